"""The data plane: flavors (loaders), signature checks, batching, routing, the gateway app."""
