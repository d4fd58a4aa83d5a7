"""The model registry: models, versions, aliases, stages, tags, lineage, approvals, model cards."""
