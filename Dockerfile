# The sidecar image used by docker-compose.yml. Settings come from SIDECAR_* environment variables.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
COPY mappings ./mappings
# install, then compile the reranking kernels into the package's cache (read-only at run time: the
# server copies it to its temp dir on start instead of compiling, see sidecar/jit_cache.py)
RUN pip install --no-cache-dir . && sidecar warm
COPY query_rules ./query_rules
COPY demo ./demo
RUN useradd --system --uid 10001 --no-create-home sidecar
USER sidecar
ENV SIDECAR_HOST=0.0.0.0 \
    SIDECAR_PORT=8080 \
    SIDECAR_RULES=/app/query_rules
EXPOSE 8080
CMD ["sidecar", "serve"]
