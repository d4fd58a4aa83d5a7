"""Rollouts: endpoints and their routing state, strategies, analysis, the controller."""
