# Slim, non-root image: applies the migrations, then serves the API (python -m app serve).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /srv/trading
RUN useradd --create-home --uid 10001 --user-group trader

# Dependencies first (pinned by the lock), so code changes do not reinstall them.
COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
RUN pip install -c requirements.lock -e . \
    && mkdir -p data logs && chown trader:trader data logs
COPY alembic.ini ./
COPY alembic ./alembic

USER trader
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=3)"]
CMD ["python", "-m", "app", "serve"]
