# The sidecar image used by docker-compose.yml. Settings come from SIDECAR_* environment variables.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN pip install --no-cache-dir . && sidecar warm   # compile the reranking kernels into the image
COPY query_rules ./query_rules
COPY demo ./demo
ENV SIDECAR_HOST=0.0.0.0 \
    SIDECAR_PORT=8080 \
    SIDECAR_RULES=/app/query_rules
EXPOSE 8080
CMD ["sidecar", "serve"]
