# UAI server image. Embedded mode by default (data in /app/var); set DATABASE_URL and REDIS_URL
# for the distributed mode and start workers from the same image with the `worker` command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UAI_HOST=0.0.0.0 \
    UAI_PORT=8000 \
    UAI_ALLOWED_HOSTS=*

WORKDIR /app
RUN useradd --create-home --uid 1000 uai
COPY pyproject.toml README.md ./
COPY uai_project ./uai_project
COPY uai ./uai
COPY templates ./templates
COPY manage.py docker-entrypoint.sh ./
RUN pip install --no-cache-dir . \
    && mkdir -p /app/var \
    && chown -R uai:uai /app
USER uai
RUN UAI_DATA_DIR=/tmp/collect DATABASE_URL=postgres://build@localhost/none \
    python manage.py collectstatic --noinput --verbosity 0

EXPOSE 8000
VOLUME ["/app/var"]
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz')" || exit 1
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["serve"]
