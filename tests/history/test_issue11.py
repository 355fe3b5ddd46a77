"""Issue 11: each misreading of real histories, fixed and pinned on real files.

Where a case needs two runs in one file (appended runs, two models), the file is built from two REAL
logs (Keras CSVLogger rows of BurakErguvn and Aditya24jar, the same columns), and the ground truth is
what traindoc says about each real log on its own: reading the combined file must not change it.
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import pytest

from probes.base import ProbeError
from probes.history import history_outcome, load_history
from tests.conftest import REAL_HISTORIES, assert_one_line_error, run_cli
from tests.history.conftest import DATA, all_real, real

JAYPEE_DIR = REAL_HISTORIES / "run_dirs" / "Jaypee34__Sentiment-Analysis-for-Customer-Feedback"


# -- baselines only from evidence ---------------------------------------------------------------------


def test_config_json_beside_the_trainer_state_gives_the_class_count() -> None:
    # the repo's config.json (same commit) has id2label with 3 labels: a 3-class sentiment model
    o = history_outcome(str(JAYPEE_DIR))
    b = o.data["analysis"]["baseline"]
    assert (b["classes"], b["source"]) == (3, "file")
    assert "config.json" in b["explanation"]
    assert o.answers["train_loss_large"] == "no"  # 0.179 / ln 3 = 16%
    # the same trainer state without its config: no evidence, the question stays open
    alone = history_outcome(str(real("Jaypee34")))
    assert alone.data["analysis"]["baseline"]["source"] == "none"
    assert alone.answers["train_loss_large"] == "no"  # still settled: 0.99 -> 0.18 is 18% of its start


def test_a_language_model_config_says_nothing_about_classes(tmp_path) -> None:
    # a causal LM's config.json keeps a default num_labels = 2 that means nothing
    (tmp_path / "trainer_state.json").write_bytes(real("RohitBind123").read_bytes())
    (tmp_path / "config.json").write_text(
        json.dumps(
            {"architectures": ["FalconForCausalLM"], "num_labels": 2, "id2label": {"0": "A", "1": "B"}}
        )
    )
    assert history_outcome(str(tmp_path)).data["analysis"]["baseline"]["source"] == "none"


def test_lightning_hparams_yaml_gives_the_class_count(tmp_path) -> None:
    # Lightning's CSVLogger saves the module's hyperparameters beside metrics.csv
    (tmp_path / "metrics.csv").write_bytes(real("LhoWann").read_bytes())
    (tmp_path / "hparams.yaml").write_text("lr: 0.0001\nmodel:\n  num_classes: 7\n  pretrained: true\n")
    b = history_outcome(str(tmp_path)).data["analysis"]["baseline"]
    assert (b["classes"], b["source"]) == (7, "file")


def test_a_five_class_cnn_is_not_read_as_six_or_seven_classes() -> None:
    # BurakErguvn's car CNN has 5 classes (class_names in main.ipynb at the log's commit 7fc4bfd):
    # its first train loss 1.78 is near ln 6 and val loss 1.897 near ln 7, with val accuracy 0.166
    # (neither 1/7 nor 1/5): no evidence of a class count, so none is assumed
    o = history_outcome(str(real("BurakErguvn")))
    assert o.data["analysis"]["baseline"]["classes"] is None
    given = history_outcome(str(real("BurakErguvn")), classes=5)
    assert given.data["analysis"]["baseline"]["classes"] == 5
    assert given.answers["train_loss_large"] == "no"  # 0.30 / ln 5 = 19%


def test_ln_c_together_with_chance_accuracy_is_evidence() -> None:
    # QuALITY 4-way multiple choice: eval loss 1.3863 = ln 4 with eval accuracy 0.27 (chance 0.25)
    b = history_outcome(str(real("yuanhuanghuang"))).data["analysis"]["baseline"]
    assert (b["classes"], b["source"]) == (4, "detected")
    assert "chance" in b["explanation"]


def test_no_real_history_gets_a_guessed_baseline() -> None:
    # every detected baseline among the 34 real runs rests on an accuracy at chance logged with the loss
    for path in all_real():
        try:
            b = history_outcome(str(path)).data["analysis"]["baseline"]
        except ProbeError:
            continue
        assert b["source"] in ("none", "detected"), path.name
        if b["source"] == "detected":
            assert "chance" in b["explanation"], path.name


# -- the right curves -------------------------------------------------------------------------------


def test_a_one_off_summary_does_not_replace_the_real_curve(tmp_path) -> None:
    # the case: a "Best ValLoss: 1.05" summary line after a real log's per-epoch lines
    text = real("AdityaJ87").read_text(encoding="utf-8")
    path = tmp_path / "training.log"
    path.write_text(text + "\nTraining complete. Best ValLoss: 1.05\n", encoding="utf-8")
    original = {s.name: s.values for s in load_history(real("AdityaJ87")).series}
    h = load_history(path)
    assert {s.name: s.values for s in h.series} == original
    assert any("Best ValLoss" in n for n in h.notes)


def test_an_appended_second_run_is_detected_and_the_last_analysed(tmp_path) -> None:
    # Keras CSVLogger(append=True) writes the second run's rows under the first run's header
    first = real("Aditya24jar").read_text().splitlines()
    second = real("BurakErguvn").read_text().splitlines()
    assert first[0] == second[0]  # same columns
    path = tmp_path / "training.log"
    path.write_text("\n".join(first + second[1:]) + "\n")
    h = load_history(path)
    assert any("2 runs appended" in w for w in h.warnings)
    alone = history_outcome(str(real("BurakErguvn")))
    both = history_outcome(str(path))
    assert both.answers == alone.answers
    assert both.data["curves"] == alone.data["curves"]


def test_two_models_in_one_file_are_analysed_apart(tmp_path) -> None:
    # cls_* columns from one real run, reg_* from another: each group must read as its own run
    a = real("BurakErguvn").read_text().splitlines()
    b = real("Aditya24jar").read_text().splitlines()
    n = min(len(a), len(b)) - 1
    rows = ["epoch,cls_loss,cls_val_loss,reg_loss,reg_val_loss"]
    cut_a, cut_b = ["epoch,loss,val_loss"], ["epoch,loss,val_loss"]
    for i in range(1, n + 1):
        ea, eb = a[i].split(","), b[i].split(",")
        rows.append(f"{ea[0]},{ea[2]},{ea[4]},{eb[2]},{eb[4]}")
        cut_a.append(f"{ea[0]},{ea[2]},{ea[4]}")
        cut_b.append(f"{eb[0]},{eb[2]},{eb[4]}")
    mixed, only_a, only_b = tmp_path / "mixed.csv", tmp_path / "a.csv", tmp_path / "b.csv"
    mixed.write_text("\n".join(rows) + "\n")
    only_a.write_text("\n".join(cut_a) + "\n")
    only_b.write_text("\n".join(cut_b) + "\n")
    default = history_outcome(str(mixed))
    assert default.data["groups"] == ["cls", "reg"] and default.data["group"] == "cls"
    assert any("--group reg" in w for w in default.warnings)
    assert default.answers == history_outcome(str(only_a)).answers
    chosen = history_outcome(str(mixed), group="reg")
    assert chosen.answers == history_outcome(str(only_b)).answers
    assert {c["name"] for c in chosen.data["curves"]} == {"reg_loss", "reg_val_loss"}
    with pytest.raises(ProbeError, match="'box' is not in"):
        history_outcome(str(mixed), group="box")


# -- the learning rate ------------------------------------------------------------------------------


def test_a_loss_rise_at_the_end_of_the_warm_up_answers_the_learning_rate_question() -> None:
    # CodeBERT fine-tune, read by hand: the per-step loss is ~0.09 at steps 230-250 (LR 9e-6 .. 1e-5),
    # then its level climbs (0.30 0.18 0.50 0.57 0.40 among the logged losses) while the LR warms up
    # to its 2e-5 peak at step ~505; once the LR decays the loss falls to ~2e-4
    o = history_outcome(str(real("DiegoArteagaMendoza")))
    lr = o.data["analysis"]["learning_rate"]
    assert o.answers["learning_rate_exceeds_stability"] == "yes"
    assert lr["exceeds"] and lr["peak"] == pytest.approx(2e-5, rel=0.01)
    assert 200 <= lr["rise_start_step"] <= 260 and lr["rise_end_step"] <= 520
    assert lr["lr_at_rise"] >= 0.8 * lr["peak"]
    assert lr["recovered_below"] < 0.01
    assert any(r.startswith("learning_rate_exceeds_stability = yes") for r in o.rules)


def test_a_learning_rate_with_no_loss_rise_leaves_the_question_open() -> None:
    # a history cannot show that a rate is stable: without a rise the question is not answered
    for fragment in ("Jaypee34__Sentiment", "ResultsEtape3", "aigoncharov", "4hmetcakmak"):
        o = history_outcome(str(real(fragment)))
        assert "learning_rate_exceeds_stability" not in o.answers, fragment
        assert any(r.startswith("learning_rate_exceeds_stability: left open") for r in o.rules)


# -- too good, stopped early, NaN at the end -----------------------------------------------------------


def test_held_out_far_below_training_near_zero_is_too_good(tmp_path) -> None:
    # rule: held-out loss <= 1/10 of the training loss and <= 5% of the scale, anywhere in the run
    n = 20
    train = [1.0 - 0.5 * i / (n - 1) for i in range(n)]  # 1.0 -> 0.5
    val = [0.9 * math.exp(-i / 2) + 0.0125 for i in range(n)]  # -> 0.0125, 40x below 0.5
    path = tmp_path / "m.csv"
    path.write_text(
        "epoch,loss,val_loss\n"
        + "".join(f"{i},{t},{v}\n" for i, (t, v) in enumerate(zip(train, val, strict=True)))
    )
    o = history_outcome(str(path))
    assert any("too good to be true" in w for w in o.warnings)
    # and no real run trips it except by that rule (none of the 34 has a held-out loss 10x below train)
    for p in all_real():
        try:
            w = history_outcome(str(p)).warnings
        except ProbeError:
            continue
        assert not any("too good to be true" in x for x in w), p.name


def test_perfect_accuracy_from_the_first_evaluation_is_flagged(tmp_path) -> None:
    path = tmp_path / "m.csv"
    rows = "".join(f"{i},{1 / (i + 1)},{0.5 / (i + 1)},1.0\n" for i in range(6))
    path.write_text("epoch,loss,val_loss,val_acc\n" + rows)
    assert any("perfect score" in w for w in history_outcome(str(path)).warnings)


def test_stopped_before_max_steps_is_shown() -> None:
    # trainer_state: global_step 2000 of max_steps 2253
    o = history_outcome(str(real("Ayaa220")))
    assert any(r.startswith("observed: the run stopped at step 2000 of the planned 2253") for r in o.rules)
    assert "stopped at step 2000" in o.summary


def test_a_validation_curve_ending_in_nan_is_not_judged_by_its_last_finite_value(tmp_path) -> None:
    path = tmp_path / "m.csv"
    val = ["1.0", "0.8", "0.7", "0.65", "nan", "nan"]
    path.write_text("epoch,loss,val_loss\n" + "".join(f"{i},{1 / (i + 1)},{v}\n" for i, v in enumerate(val)))
    o = history_outcome(str(path))
    assert "val_loss_large" not in o.answers
    assert any("ends in NaN/inf (from step 4" in r for r in o.rules)
    assert any("val_loss ends in NaN" in w for w in o.warnings)


# -- refusals made precise, robust directories ---------------------------------------------------------


def test_a_git_lfs_pointer_is_named(tmp_path) -> None:
    # the pointer format of https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md
    path = tmp_path / "trainer_state.json"
    path.write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345678\n"
    )
    with pytest.raises(ProbeError, match="Git LFS pointer") as exc:
        load_history(path)
    assert "git lfs pull" in exc.value.message and "12.3 MB" in exc.value.message


def test_an_empty_log_history_is_explained(tmp_path) -> None:
    state = json.loads(real("Jaypee34").read_text())
    state["log_history"] = []
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(state))
    with pytest.raises(ProbeError, match="empty log_history") as exc:
        load_history(path)
    assert "logging_steps" in exc.value.message


def test_a_symlink_loop_does_not_make_a_run_dir_unreadable(tmp_path) -> None:
    (tmp_path / "metrics.csv").write_bytes(real("HCDescamps").read_bytes())
    os.symlink(tmp_path / "loop_a", tmp_path / "loop_b")
    os.symlink(tmp_path / "loop_b", tmp_path / "loop_a")
    os.symlink(tmp_path / "self", tmp_path / "self")
    h = load_history(tmp_path)
    assert h.format == "lightning_csv"


def test_a_device_is_refused(tmp_path) -> None:
    with pytest.raises(ProbeError, match="not a regular file"):
        load_history("/dev/zero")


# -- CLI ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_diagnose_takes_the_history_options() -> None:
    run = run_cli(
        "diagnose", "--history", str(real("MohamedYoussef06")), "--classes", "3", "--patience", "2", "--json"
    )
    assert run.code == 0, run.stderr
    answer = json.loads(run.stdout)["answers"]["train_loss_large"]
    assert (answer["value"], answer["source"]) == ("yes", "history")  # 1.033 / ln 3 = 94%
    assert any(r.startswith("baseline: ln 3") for r in answer["evidence"]["rules"])
    bad = run_cli("diagnose", "--history", str(real("MohamedYoussef06")), "--priors", "a,b")
    assert_one_line_error(bad, "--priors")


@pytest.mark.slow
def test_history_text_names_what_would_settle_the_open_question() -> None:
    run = run_cli("history", str(real("MohamedYoussef06")), "--color", "never")
    assert run.code == 0, run.stderr
    assert "To settle what is left open:" in run.stdout
    assert "train_loss_large: give --classes C or --baseline LOSS" in run.stdout


def test_restarted_steps_in_a_trainer_state_keep_the_last_run(tmp_path) -> None:
    # two real log_history lists concatenated (a second run written into the same state): the step
    # counter goes back; the analysis must equal the last run's own
    first = json.loads(real("Ayaa220").read_text())
    second = json.loads(real("Jaypee34__Sentiment").read_text())
    merged = {**second, "log_history": first["log_history"] + second["log_history"]}
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(merged))
    o = history_outcome(str(path))
    assert any("2 runs in one log_history" in w for w in o.warnings)
    alone = history_outcome(str(real("Jaypee34__Sentiment")))
    assert o.answers == alone.answers and o.data["curves"] == alone.data["curves"]


def test_restarted_epochs_in_json_records_keep_the_last_run(tmp_path) -> None:
    rows = [line.split(",") for line in real("BurakErguvn").read_text().splitlines()[1:]]
    other = [line.split(",") for line in real("Aditya24jar").read_text().splitlines()[1:]]
    records = [{"epoch": int(r[0]), "loss": float(r[2]), "val_loss": float(r[4])} for r in other + rows]
    path = tmp_path / "history.json"
    path.write_text(json.dumps(records))
    h = load_history(path)
    assert any("2 runs in one file" in w for w in h.warnings)
    assert next(s for s in h.series if s.name == "loss").values == [float(r[2]) for r in rows]


KERAS_RUN = DATA / "keras_run"  # written by real Keras 3.15.1 (tests/history/keras_writer.py)


def test_the_saved_keras_model_beside_the_csv_log_gives_the_class_count() -> None:
    # keras_writer.py trains a 4-class softmax classifier; its model.keras config says Dense(4, softmax)
    o = history_outcome(str(KERAS_RUN / "training.log"))
    b = o.data["analysis"]["baseline"]
    assert (b["classes"], b["source"]) == (4, "file")
    assert "model.keras" in b["explanation"]
    assert o.answers["train_loss_large"] == "no"  # 0.19 / ln 4 = 14%


def test_keras_model_configs_are_read_by_their_last_dense_layer(tmp_path) -> None:
    log = tmp_path / "training.log"
    log.write_bytes((KERAS_RUN / "training.log").read_bytes())
    config = json.loads(zipfile.ZipFile(KERAS_RUN / "model.keras").read("config.json"))
    last = config["config"]["layers"][-1]["config"]
    # logits under a categorical cross-entropy with label smoothing: still C = units, and a floor
    last["activation"] = "linear"
    config["compile_config"]["loss"] = {
        "class_name": "CategoricalCrossentropy",
        "config": {"from_logits": True, "label_smoothing": 0.1},
    }
    (tmp_path / "model.json").write_text(json.dumps(config))
    b = history_outcome(str(log)).data["analysis"]["baseline"]
    assert b["classes"] == 4 and b["floor"] > 0
    # a regression head (one linear unit) says nothing about classes
    last["units"], last["activation"] = 1, "linear"
    config["compile_config"]["loss"] = "mse"
    (tmp_path / "model.json").write_text(json.dumps(config))
    assert history_outcome(str(log)).data["analysis"]["baseline"]["source"] == "none"
