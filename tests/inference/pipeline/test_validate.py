import pytest

from compliance.models import ContentRule
from inference.pipeline.validate import (
    Caller,
    EmbeddingsPayload,
    GenerationPayload,
    validate_embeddings,
    validate_generation,
)
from inference.registry import model_context_length, model_get, model_tokenizer
from portal.errors import ApiError


@pytest.fixture
def caller(tenant) -> Caller:
    return Caller(
        request_id="r1", user_id=1, tenant=tenant, subject_reference="user:1", endpoint="test"
    )


def refused(validate, caller, payload) -> ApiError:
    with pytest.raises(ApiError) as raised:
        validate(caller=caller, payload=payload)
    return raised.value


def chat(**fields) -> GenerationPayload:
    fields.setdefault("messages", ({"role": "user", "content": "Hello there"},))
    return GenerationPayload(model="tiny-chat", **fields)


def test_chat_is_tokenized_with_the_models_template(caller):
    request = validate_generation(caller=caller, payload=chat(max_tokens=5))
    tokenizer = model_tokenizer(model_get("tiny-chat"))
    assert tokenizer.decode(request.token_ids[0]) == "<|user|>\nHello there\n<|assistant|>\n"
    assert request.max_tokens == 5


def test_plain_prompt_is_tokenized_as_is(caller):
    request = validate_generation(
        caller=caller, payload=GenerationPayload(model="tiny-chat", prompt="Hello")
    )
    assert model_tokenizer(request.model).decode(request.token_ids[0]) == "Hello"


def test_default_max_tokens_fits_the_context(caller, settings):
    settings.INFERENCE_DEFAULT_MAX_TOKENS = 10_000
    request = validate_generation(caller=caller, payload=chat())
    assert request.prompt_tokens + request.max_tokens == model_context_length(request.model)


def test_prompt_plus_max_tokens_over_context_is_refused(caller):
    error = refused(validate_generation, caller, chat(max_tokens=600))
    assert error.code == "context_length_exceeded" and error.param == "max_tokens"


def test_prompt_alone_over_context_is_refused(caller):
    error = refused(
        validate_generation, caller, chat(messages=({"role": "user", "content": "a b " * 600},))
    )
    assert error.code == "context_length_exceeded" and error.param == "messages"


def test_character_limit_is_checked_before_tokenizing(caller, settings):
    settings.INFERENCE_MAX_PROMPT_CHARS = 10
    error = refused(
        validate_generation, caller, chat(messages=({"role": "user", "content": "x" * 11},))
    )
    assert error.code == "context_length_exceeded"


def test_blank_prompt_is_refused(caller):
    assert (
        refused(
            validate_generation, caller, chat(messages=({"role": "user", "content": " \n"},))
        ).code
        == "invalid_request"
    )


def test_unknown_model_and_wrong_task_are_refused(caller):
    assert (
        refused(validate_generation, caller, GenerationPayload(model="nope", prompt="x")).code
        == "model_not_found"
    )
    assert (
        refused(
            validate_generation, caller, GenerationPayload(model="minilm-embed", prompt="x")
        ).code
        == "model_not_found"
    )


def test_tenant_blocklist_refuses_whole_words_case_insensitively(caller, tenant):
    ContentRule.objects.create(
        tenant=tenant, name="falcon", kind="term", value="Project Falcon", action="block"
    )
    error = refused(
        validate_generation,
        caller,
        chat(messages=({"role": "user", "content": "status of project falcon?"},)),
    )
    assert error.code == "content_policy_violation"
    assert "falcon" not in error.message.lower()
    validate_generation(
        caller=caller, payload=chat(messages=({"role": "user", "content": "falconry"},))
    )


def test_empty_stop_sequence_is_refused(caller):
    assert refused(validate_generation, caller, chat(stop=("",))).code == "invalid_request"


def test_embeddings_inputs_are_tokenized_each(caller):
    request = validate_embeddings(
        caller=caller, payload=EmbeddingsPayload(model="minilm-embed", inputs=("one", "two words"))
    )
    assert len(request.token_ids) == 2


def test_embeddings_input_over_context_is_refused(caller):
    payload = EmbeddingsPayload(model="minilm-embed", inputs=("word " * 600,))
    assert refused(validate_embeddings, caller, payload).code == "context_length_exceeded"


def test_embeddings_blank_input_is_refused(caller):
    payload = EmbeddingsPayload(model="minilm-embed", inputs=("ok", ""))
    assert refused(validate_embeddings, caller, payload).code == "invalid_request"


@pytest.fixture
def catalogue(tmp_path, settings):
    """Serve tiny-chat from a catalogue written by the test."""

    def write(extra: str) -> None:
        path = tmp_path / f"models-{len(list(tmp_path.iterdir()))}.toml"  # read once per path
        path.write_text(
            f'[[models]]\nname = "tiny-chat"\ntask = "text-generation"\n'
            f'path = "{settings.VAR_DIR}/models/tiny-chat"\n{extra}\n'
        )
        settings.PORTAL_MODELS = str(path)

    return write


def test_kv_cache_estimate_comes_from_the_model_config(caller):
    request = validate_generation(caller=caller, payload=chat(max_tokens=10))
    per_token = 2 * 4 * 4 * 32 * 4  # layers, heads, head size, float32 keys and values
    assert request.kv_cache_bytes == (request.prompt_tokens + 10) * per_token


def test_a_request_bigger_than_the_pools_kv_budget_is_refused(caller, catalogue):
    catalogue("kv_cache_budget_mb = 0.25")  # 64 tokens of tiny-chat
    validate_generation(caller=caller, payload=chat(max_tokens=40))
    error = refused(validate_generation, caller, chat(max_tokens=100))
    assert error.code == "capacity_exceeded" and error.param == "max_tokens"


def test_a_pool_dedicated_to_other_tenants_does_not_exist_for_this_one(caller, catalogue):
    catalogue('tenants = ["someone-else"]')
    assert refused(validate_generation, caller, chat()).code == "model_not_found"
    catalogue(f'tenants = ["{caller.tenant.slug}"]')
    validate_generation(caller=caller, payload=chat())
