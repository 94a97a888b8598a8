import torch

from inference.pipeline.engine import Handle
from inference.pipeline.preprocess.text import PreparedEmbeddings
from inference.registry import model_get
from inference.tasks.embeddings import EmbeddingsRunner


def embed(runner, *texts):
    ids = tuple(torch.tensor(runner.tokenizer(t)["input_ids"]) for t in texts)
    handle = Handle(prepared=PreparedEmbeddings(inputs=ids))
    with torch.inference_mode():
        runner.step([handle])
    return torch.tensor(handle.wait(1).vectors)


def test_real_minilm_gives_unit_vectors_that_mean_something():
    runner = EmbeddingsRunner(model_get("minilm-embed"))
    vectors = embed(runner, "The cat sits on the mat.", "A cat is sitting on a rug.", "Tax law.")
    assert vectors.shape == (3, 384)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.5 > vectors[0] @ vectors[2]


def test_padding_does_not_change_a_vector():
    runner = EmbeddingsRunner(model_get("minilm-embed"))
    alone = embed(runner, "short")[0]
    padded = embed(runner, "short", "a much longer sentence that forces padding of the first")[0]
    assert torch.allclose(alone, padded, atol=1e-5)
