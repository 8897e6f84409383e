from deita_assets.core.training import PAPER_RECIPES, SFTConfig, last_complete_checkpoint, run_fingerprint


def test_resume_skips_a_checkpoint_killed_while_saving(tmp_path):
    assert last_complete_checkpoint(tmp_path) is None
    for step, complete in [(2, True), (10, True), (12, False)]:
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_steps_and_fingerprint():
    config = SFTConfig(batch_size=4, grad_accum=2, epochs=3)
    assert config.optimizer_steps(17) == 9  # ceil(ceil(17/4)/2) = 3 per epoch
    assert SFTConfig(max_steps=5).optimizer_steps(1000) == 5
    rows = [[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]]
    assert run_fingerprint(config, rows) == run_fingerprint(config, [list(rows[0])])
    assert run_fingerprint(config, rows) != run_fingerprint(SFTConfig(seed=1), rows)
    assert PAPER_RECIPES["deita"].epochs == 6 and PAPER_RECIPES["mods"].warmup_ratio == 0.03
