"""Packaging for Kubernetes and KServe: a Dockerfile and manifests for the gateway and the control plane."""
