"""Content-addressed artifact storage over fsspec (file://, s3://)."""
