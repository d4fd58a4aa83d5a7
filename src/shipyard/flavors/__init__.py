"""Model flavors: how an artifact's bytes become a predicting object, safely."""
