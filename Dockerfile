# newsbot: the Discord bot on CPU.
#   docker build -t newsbot .
#   docker run --env-file .env -v newsbot-data:/data newsbot
FROM python:3.11-slim

# The user's cache (where the model is exported, once) in the volume: the container's home
# is not kept from one container to the next. Not NEWSBOT_MODEL_CACHE_DIR, which an
# --env-file copied from .env.example sets empty.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    NEWSBOT_DATA_DIR=/data \
    XDG_CACHE_HOME=/data/cache

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
