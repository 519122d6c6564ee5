"""Assistant settings, from `FOLIO_ASSISTANT_*` variables."""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from folio_platform.settings import GrpcServiceSettings


class Settings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_ASSISTANT_")

    port: int = Field(default=50055, ge=0, le=65535)
    service_addresses: dict[str, str] = Field(
        default={"catalog": "127.0.0.1:50051", "orders": "127.0.0.1:50054"},
        description='JSON map of service -> "host:port[,host:port...]"; orders is optional',
    )
    call_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="cap on one catalog/orders call"
    )
    graph_url: str | None = Field(
        default=None,
        description="neo4j://… or bolt://… for a Neo4j server; unset means embedded FalkorDB in data_dir",
    )
    graph_user: str = Field(default="neo4j", description="Neo4j user (with graph_url)")
    graph_password: SecretStr | None = Field(default=None, description="Neo4j password (a Secret)")
    qdrant_url: str | None = Field(
        default=None,
        description="a Qdrant server, e.g. http://qdrant:6333; unset means local mode in data_dir",
    )
    qdrant_api_key: SecretStr | None = None
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible endpoint (vLLM, Ollama …/v1); unset means extractive answers",
    )
    llm_model: str = Field(default="gemma3:1b", description="model name sent to the LLM endpoint")
    llm_api_key: SecretStr | None = Field(default=None, description="bearer key for the LLM endpoint, if any")
    llm_timeout_seconds: float = Field(
        default=20.0, gt=0, le=300, description="whole-answer budget; past it the user gets the books"
    )
    llm_max_tokens: int = Field(default=400, gt=0, le=4096)
    question_max_chars: int = Field(default=500, ge=10, le=4000)
    ask_max_concurrent: int = Field(
        default=8, ge=1, le=1000, description="answers in progress at once; past it Ask is RESOURCE_EXHAUSTED"
    )
    ingest_on_start: bool = Field(
        default=True, description="index the catalog in the background at start when the index is empty"
    )
    embedding_threads: int = Field(
        default=1, ge=1, le=64, description="texts embedded at once while ingesting, each on one core"
    )

    @field_validator("service_addresses")
    @classmethod
    def _names_catalog(cls, value: dict[str, str]) -> dict[str, str]:
        if "catalog" not in value:
            raise ValueError("must give an address for catalog (ingestion reads the catalog)")
        return value
