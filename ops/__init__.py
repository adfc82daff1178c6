"""Operations: health probes, Prometheus metrics, request ids and the structured access log (docs/deployment.md)."""
