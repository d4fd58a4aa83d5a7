"""The pipeline runner: validate -> split -> train -> evaluate -> gate -> register, with a step cache."""
