"""One runner per task; each loads its weights once and computes whole batches."""

from inference.tasks.embeddings import EmbeddingsRunner
from inference.tasks.text_generation import TextGenerationRunner

RUNNERS = {
    "text-generation": TextGenerationRunner,
    "embeddings": EmbeddingsRunner,
}
