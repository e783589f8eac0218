# newsbot: the Discord bot on CPU.
#   docker build -t newsbot .
#   docker run --env-file .env -v newsbot-data:/data newsbot
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    NEWSBOT_DATA_DIR=/data

WORKDIR /app
# CPU-only torch first, pinned, so nothing pulls the CUDA build.
RUN pip install --upgrade pip \
 && pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml requirements.lock README.md ./
COPY newsbot ./newsbot
COPY bot ./bot
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY examples ./examples
RUN pip install -c requirements.lock .

# /chroma: the Chroma server's volume (docker-compose.yml); named volumes take these owners.
RUN useradd --create-home newsbot && mkdir -p /data /chroma && chown newsbot /data /chroma
USER newsbot
VOLUME ["/data"]
CMD ["python", "-m", "bot"]
