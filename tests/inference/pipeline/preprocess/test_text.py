import pytest
import torch

from compliance.models import TenantPolicy
from inference.pipeline.preprocess.text import preprocess_embeddings, preprocess_generation
from inference.pipeline.validate import ValidatedRequest
from inference.registry import model_device, model_get


@pytest.fixture
def caller(tenant):
    from inference.pipeline.validate import Caller

    return Caller(request_id="r", user_id=1, tenant=tenant, subject_reference="u", endpoint="t")


def test_generation_ids_become_a_long_tensor_on_the_models_device(caller):
    spec = model_get("tiny-chat")
    request = ValidatedRequest(
        caller=caller,
        model=spec,
        token_ids=((5, 6, 7),),
        max_tokens=4,
        temperature=0.5,
        seed=3,
        policy=TenantPolicy(),
    )
    prepared = preprocess_generation(request)
    assert prepared.input_ids.dtype == torch.long
    assert prepared.input_ids.device.type == model_device(spec).type
    assert prepared.input_ids.tolist() == [5, 6, 7]
    assert (prepared.max_new_tokens, prepared.temperature, prepared.seed) == (4, 0.5, 3)


def test_embeddings_get_one_tensor_per_input(caller):
    spec = model_get("minilm-embed")
    prepared = preprocess_embeddings(
        ValidatedRequest(
            caller=caller, model=spec, token_ids=((1, 2), (3, 4, 5)), policy=TenantPolicy()
        )
    )
    assert [t.tolist() for t in prepared.inputs] == [[1, 2], [3, 4, 5]]
    assert all(t.device.type == model_device(spec).type for t in prepared.inputs)
