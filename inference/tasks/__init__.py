"""One runner per task; each loads its weights once and computes whole batches."""

from inference.tasks.embeddings import EmbeddingsRunner
from inference.tasks.image_classification import ImageClassificationRunner
from inference.tasks.image_generation import ImageGenerationRunner
from inference.tasks.speech_detection import SpeechDetectionRunner
from inference.tasks.text_generation import TextGenerationRunner
from inference.tasks.transcription import TranscriptionRunner

RUNNERS = {
    "text-generation": TextGenerationRunner,
    "embeddings": EmbeddingsRunner,
    "image-classification": ImageClassificationRunner,
    "image-generation": ImageGenerationRunner,
    "transcription": TranscriptionRunner,
    "speech-detection": SpeechDetectionRunner,
}
