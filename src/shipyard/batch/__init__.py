"""Batch scoring over files (``shipyard batch score``): parts in, checked rows, predictions out, once per part."""
