"""One route module per resource."""
