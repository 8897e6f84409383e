"""SFT on the real bundled model, kept tiny: a few steps on a few short conversations."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deita_assets.core.chat_tokens import IGNORE_INDEX, encode_conversation
from deita_assets.core.evaluation import reference_nll
from deita_assets.core.training import CHECKPOINT_DIR, CONFIG_FILE, SFTConfig, load_trained, train_sft

pytestmark = pytest.mark.slow

ROWS = [
    [
        {"role": "user", "content": f"What is the access code of the {color} door?"},
        {"role": "assistant", "content": f"The access code of the {color} door is {code}."},
    ]
    for color, code in [("blue", 7401), ("red", 3318), ("green", 9025), ("amber", 1164)]
]


def tiny_config(model_dir: Path, **overrides) -> SFTConfig:
    values = dict(
        base_model=str(model_dir),
        max_steps=4,
        batch_size=2,
        max_length=96,
        learning_rate=2e-4,
        warmup_ratio=0.0,
        save_steps=2,
        seed=0,
    )
    return SFTConfig(**{**values, **overrides})


def test_labels_cover_assistant_tokens_only(small_llm_dir):
    _model, tokenizer = load_trained(small_llm_dir)
    turns = [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "Hi there"},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hello again"},
    ]
    item = encode_conversation(tokenizer, turns, max_length=512)
    target = tokenizer.decode([t for t in item.labels if t != IGNORE_INDEX])
    assert target == "Hi there<|im_end|>\nHello again<|im_end|>\n"
    assert not item.truncated and len(item.labels) == len(item.input_ids)
    short = encode_conversation(tokenizer, turns, max_length=10)
    assert short.truncated and len(short.input_ids) == 10 and short.n_target_tokens == 0


def test_training_lowers_loss_and_training_row_nll(small_llm_dir, tmp_path):
    base_model, tokenizer = load_trained(small_llm_dir)
    before = reference_nll(base_model, tokenizer, ROWS, max_length=96).mean_nll
    del base_model
    result = train_sft(ROWS, tiny_config(small_llm_dir), tmp_path)
    losses = [loss for _step, loss in result.loss_curve]
    assert result.steps == 4 and len(losses) == 4
    assert losses[-1] < losses[0]
    assert result.tokens_per_second and result.tokens_per_second > 0
    saved = {p.name for p in result.model_dir.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json", CONFIG_FILE} <= saved
    # checkpoint at step 2 only: the last step's would duplicate the final model (plus AdamW state)
    assert [p.name for p in (result.run_dir / CHECKPOINT_DIR).iterdir()] == ["checkpoint-2"]
    trained, trained_tokenizer = load_trained(result.model_dir)
    after = reference_nll(trained, trained_tokenizer, ROWS, max_length=96).mean_nll
    assert after < before - 0.2, (before, after)
    again = train_sft(ROWS, tiny_config(small_llm_dir), tmp_path)
    assert again.reused and again.model_dir == result.model_dir and again.loss_curve == result.loss_curve


CRASHING_RUN = textwrap.dedent(
    """
    import json, os, signal, sys
    from pathlib import Path
    from transformers import TrainerCallback
    from deita_assets.core.training import SFTConfig, train_sft

    class DieAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step >= 2:
                os.kill(os.getpid(), signal.SIGKILL)

    spec = json.loads(sys.argv[1])
    train_sft(spec["rows"], SFTConfig(**spec["config"]), Path(spec["runs_dir"]), [DieAfterCheckpoint()])
    """
)


def test_killed_run_resumes_from_last_checkpoint(small_llm_dir, tmp_path):
    config = tiny_config(small_llm_dir)
    spec = {"rows": ROWS, "config": config.__dict__, "runs_dir": str(tmp_path)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    (run_dir,) = tmp_path.iterdir()
    assert [p.name for p in (run_dir / CHECKPOINT_DIR).iterdir()] == ["checkpoint-2"]
    assert not (run_dir / "final").exists()

    resumed = train_sft(ROWS, config, tmp_path)
    assert resumed.resumed_from_step == 2 and resumed.steps == 4 and not resumed.reused
    assert [step for step, _ in resumed.loss_curve] == [1, 2, 3, 4]
    # tokens/s counts only the work done after the resume
    assert resumed.tokens_seen > 0 and (resumed.run_dir / "final" / "model.safetensors").is_file()


def test_lora_run_saves_merged_plain_weights(small_llm_dir, tmp_path):
    config = tiny_config(small_llm_dir, lora_r=4, lora_alpha=8, max_steps=2, learning_rate=1e-3)
    result = train_sft(ROWS[:2], config, tmp_path)
    assert result.steps == 2 and result.loss_curve[-1][1] < result.loss_curve[0][1]
    trained, _ = load_trained(result.model_dir)
    base, _ = load_trained(small_llm_dir)
    names = [n for n, _ in trained.named_parameters()]
    assert not any("lora" in n for n in names)  # adapters merged: a plain model for evaluation
    changed = [n for n, p in trained.named_parameters() if not p.equal(dict(base.named_parameters())[n])]
    assert any("q_proj" in n for n in changed) and not any("embed_tokens" in n for n in changed)
