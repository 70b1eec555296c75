"""Bad input is caught before the first step: one line naming the field, exit code 2, no
traceback, no workdir, in seconds (vae_jax/validation.py, vae_jax/cli.py)."""

import glob
import importlib.util
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO
from vae_jax import data, defaults, hparams, validation
from vae_jax.errors import ConfigError, DataError
from vae_jax.metrics import evaluators
from vae_jax.objectives import losses
from vae_jax.train import population

# (extra command-line arguments, a word the one-line message must contain)
BAD_INPUTS = [
    (["--config.modle=vae"], "'modle'; did you mean model"),
    (["--config.sweep.unknown=(1,)"], "sweep.unknown"),
    (["--config.sweep.betaa=(1.0,)"], "sweep.beta"),
    (["--config.sweep.batch_size=(32,64)"], "batch_size"),
    (["--config.latents=abc"], "config.latents"),
    (["--config.dataset=cifar"], "unknown dataset 'cifar'"),
    (["--config.data_source=tfsd"], "data_source 'tfsd' (did you mean tfds?)"),
    (["--config.binarization=dynamc"], "binarization"),
    (["--config.model=gan"], "unknown model 'gan'"),
    (["--config.architecture=resnet"], "unknown architecture 'resnet'"),
    (["--config.activation=swish"], "unknown activation 'swish'"),
    (["--config.likelihood=poisson"], "unknown likelihood 'poisson'"),
    (["--config.output_bias_init=mean"], "output_bias_init"),
    (["--config.code_activation=tanhh"], "unknown code_activation 'tanhh'"),
    (["--config.objective=elbow"], "objective"),
    (["--config.objective=sparse_l1"], "objective 'sparse_l1' does not apply to model 'vae'"),
    (["--config.corruption=blur"], "unknown corruption 'blur'"),
    (["--config.tc_estimator=xyz"], "unknown tc_estimator 'xyz'"),
    (["--config.lr_schedule=linear"], "unknown lr_schedule 'linear'"),
    (["--config.sweep_mode=grid"], "unknown sweep_mode 'grid'"),
    (["--config.member_map=pmap"], "unknown member_map 'pmap'"),
    (["--config.evals=('elbo', 'fid')"], "evals 'fid'"),
    (["--config.final_evals=('nl',)"], "final_evals"),
    (["--config.sweep.model=('ae', 'gan')"], "config.sweep.model"),
    (["--config.batch_size=0"], "config.batch_size"),
    (["--config.batch_size=-5"], "config.batch_size"),
    (["--config.batch_size=2048"], "batch_size=2048"),  # configs/test.py has 1024 images
    (["--config.eval_every=0"], "config.eval_every"),
    (["--config.checkpoint_every=0"], "config.checkpoint_every"),
    (["--config.latents=0"], "config.latents"),
    (["--config.num_epochs=0"], "config.num_epochs"),
    (["--config.eval_batch_size=-1"], "config.eval_batch_size"),
    (["--config.nll_chunk=0"], "config.nll_chunk"),
    (["--config.nll_batch_size=0"], "config.nll_batch_size"),
    (["--config.keep_checkpoints=0"], "config.keep_checkpoints"),
    (["--config.num_train=-1"], "config.num_train"),
    (["--config.num_test=-3"], "config.num_test"),
    (["--config.seed=-1"], "config.seed"),
    (["--config.data_seed=4294967296"], "config.data_seed"),
    (["--config.sparsity_target=1.5"], "config.sparsity_target"),
    (["--config.sparsity_target=0.0"], "config.sparsity_target"),
    (["--config.conv_channels=()"], "config.conv_channels"),
    (["--config.hidden=(64,0)"], "config.hidden"),
    (["--config.sweep.latents=(2.5,)"], "config.sweep.latents"),
    (["--config.sweep.seed=(-1,)"], "config.sweep.seed"),
    (["--config.final_evals=('nll',)", "--config.nll_samples=0"], "config.nll_samples"),
    (["--config.disentanglement_votes=1"], "config.disentanglement_votes"),
    (["--config.dataset=arrays", "--config.evals=('elbo', 'factor_vae')"], "factor_vae"),
    (["--config.evals=('elbo', 'mig')"], "'mig'"),  # MNIST has no ground-truth factors
    (["--config.pixel_std=0.0"], "config.pixel_std"),
    (["--config.learning_rate=-0.1"], "config.learning_rate"),
    (["--config.beta=-1.0"], "config.beta"),
    (["--config.corruption=mask", "--config.noise_level=2.0"], "noise_level"),
    (["--config.architecture=conv", "--config.conv_channels=(8,8,8,8,8,8)"], "conv_channels"),
    (["--config.iwae_samples=5"], "iwae_samples=5 only applies to --config.objective=iwae"),
    (["--config.exclude_train_labels=(12,)"], "exclude_train_labels"),
    (["--config.architecture=conv", "--config.output_bias_init=data_mean"], "output_bias_init"),
    (["--config.adam_b1=1.0"], "config.adam_b1"),
    (["--config.evals=('elbo', 'anomaly')"], "exclude_train_labels"),
    (["--config.grad_shards=3"], "grad_shards=3 does not divide batch_size=64"),
    (["--config.grad_shards=4", "--config.mesh_data=8"], "do not split over mesh_data=8"),
    (["--config.grad_shards=4", "--config.objective=tcvae"], "objective tcvae estimates"),
    (["--config.grad_shards=4", "--config.sweep.free_bits=(0.0, 0.5)"], "free_bits=0.5 acts"),
    (["--config.model=ae", "--config.sweep.beta=(2.0, 4.0)"], "config.beta=2.0 would be ignored"),
    (["--config.objective=iwae", "--config.free_bits=0.5"], "config.free_bits=0.5 would be"),
    (["--config.noise_level=0.3"], "config.noise_level=0.3 would be ignored (corruption=none"),
    ([], "workdir"),  # no --workdir: the flag is named
    (["--bogus_flag=1"], "bogus_flag"),
]


def _argv(workdir, extra):
    base = ["--config=configs/test.py", "--config.progress=False"]
    return base + ([f"--workdir={workdir}"] if extra else []) + extra


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")


def _start(args):
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=_env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """Every command line of this module, run at once: BAD_INPUTS (and a warning case) in one
    interpreter through tests/cli_driver.py, a few as separate `python -m vae_jax.main`."""
    root = tmp_path_factory.mktemp("cli")
    bad = [_argv(root / f"bad_{i}", extra) for i, (extra, _) in enumerate(BAD_INPUTS)]
    warn = _argv(root / "warn", ["--config.pixel_std=0.2", "--config.sweep.latents=(2, 4)",
                                 f"--config.data_dir={root / 'no_data'}"])
    value = _argv(root / "s3", ["--config.data_source=tfsd"])
    main = ["-m", "vae_jax.main"]
    separate = {  # as a user runs them, each in its own interpreter
        "unknown": _start(main + _argv(root / "s1", ["--config.modle=vae"])),
        "verbose": _start(main + _argv(root / "s2", ["--config.modle=vae", "--verbose"])),
    }
    driver = _start(["tests/cli_driver.py"])
    experiments = [  # a default config: config_flags applies overrides when defining --config
        {"script": "experiments/compare.py", "args": [f"--workdir={root / 'e1'}", *extra]}
        for extra in (["--config.modle=vae"], ["--config.batch_size=0"])]
    verbose = _argv(root / "v", ["--config.batch_size=0", "--verbose"])
    cases = bad + [warn, value, ["--help"], verbose] + experiments
    out, err = driver.communicate(json.dumps(cases), timeout=300)
    assert driver.returncode == 0, err
    results = json.loads(out)
    finished = {}
    for name, process in separate.items():
        stdout, stderr = process.communicate(timeout=300)
        finished[name] = dict(rc=process.returncode, stdout=stdout, stderr=stderr)
    finished.update(value=results[-5], help=results[-4], verbose_config=results[-3],
                    experiment=results[-2:])
    return dict(root=root, bad=results[:len(bad)], warn=results[len(bad)], separate=finished)


@pytest.mark.parametrize("index", range(len(BAD_INPUTS)),
                         ids=[" ".join(extra) or "no-workdir" for extra, _ in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_before_the_workdir(cli, index):
    result, (_, named) = cli["bad"][index], BAD_INPUTS[index]
    stderr = result["stderr"]
    assert result["rc"] == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("error: ") and len(stderr.strip().splitlines()) == 1, stderr
    assert named in stderr, stderr
    assert not os.path.exists(cli["root"] / f"bad_{index}")
    assert result["seconds"] < 10, result  # caught before any data or compilation


def test_at_least_thirty_bad_inputs():
    assert len(BAD_INPUTS) >= 30


def test_separate_command_lines(cli):
    unknown, verbose = cli["separate"]["unknown"], cli["separate"]["verbose"]
    assert unknown["rc"] == 2 and "Traceback" not in unknown["stderr"]
    assert unknown["stderr"].strip() == "error: unknown config field 'modle'; did you mean model?"
    assert verbose["rc"] == 2 and "Traceback" in verbose["stderr"]  # --verbose shows it
    assert verbose["stderr"].strip().endswith("did you mean model?")
    verbose_config = cli["separate"]["verbose_config"]  # a config error found in main
    assert verbose_config["rc"] == 2 and "Traceback" in verbose_config["stderr"]
    assert verbose_config["stderr"].strip().splitlines()[-1].startswith(
        "error: config.batch_size: must be >= 1")
    value = cli["separate"]["value"]
    assert value["rc"] == 2 and "Traceback" not in value["stderr"]
    assert "unknown data_source 'tfsd' (did you mean tfds?)" in value["stderr"]
    assert not any(os.path.exists(cli["root"] / s) for s in ("s1", "s2", "s3"))


def test_help_points_at_the_field_reference(cli):
    help_ = cli["separate"]["help"]
    # absl's --help exits with 1 (its convention), having printed the flags.
    assert "docs/configuration.md" in help_["stdout"] and "--config" in help_["stdout"]


def test_experiments_give_the_same_one_line(cli):
    unknown, bad_value = cli["separate"]["experiment"]
    assert unknown["rc"] == 2, unknown["stderr"]
    assert unknown["stderr"] == "error: unknown config field 'modle'; did you mean model?\n"
    assert bad_value["rc"] == 2 and "Traceback" not in bad_value["stderr"]
    assert "config.batch_size: must be >= 1" in bad_value["stderr"]
    assert not os.path.exists(cli["root"] / "e1")


def test_ignored_field_warns_once_per_run(cli):
    """A static field two members ignore (pixel_std with a Bernoulli likelihood, two latent
    sizes): the warning is printed once; the run then goes on (here to a missing data folder)."""
    stderr = cli["warn"]["stderr"]
    assert stderr.count("config.pixel_std=") == 1 and "is ignored (only likelihood" in stderr, \
        stderr
    assert cli["warn"]["rc"] == 2 and "does not exist" in stderr


# ----------------------------------------------------------------------------- in process
def _config(**overrides):
    from configs import test as test_config

    config = test_config.get_config()
    config.unlock()
    for name, value in overrides.items():
        config[name] = value
    return config


def _repo_configs():
    for path in sorted(glob.glob(str(REPO / "configs" / "*.py"))):
        spec = importlib.util.spec_from_file_location("config_module", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield os.path.basename(path), module.get_config()


def test_every_field_has_a_rule_that_its_default_meets():
    base = defaults.base_config()
    assert set(validation.FIELD_RULES) == set(base.keys()) - {"sweep"}
    for name in validation.FIELD_RULES:
        validation.check_value(name, base[name])  # raises if a default breaks its own rule
    rows = {row["name"]: row for row in validation.describe_fields()}
    assert rows["batch_size"]["allowed"] == ">= 1" and rows["batch_size"]["sweepable"] == "no"
    assert rows["sparsity_target"]["allowed"] == "(0, 1)"
    assert rows["beta"]["sweepable"] == "members" and rows["latents"]["sweepable"] == "programs"
    assert {n for n, r in rows.items() if r["sweepable"] != "no"} == \
        set(hparams.SWEEPABLE + population.STATIC_SWEEPABLE)
    assert rows["num_train"]["comment"] == "0 = the whole training split"  # from defaults.py
    table = validation.fields_markdown().splitlines()
    assert len(table) == 2 + len(rows) and table[2].startswith("| `dataset` | str |")


def test_every_repo_config_passes_without_warnings():
    for name, config in _repo_configs():
        if name == "anomaly.py":  # its script sets the held-out class
            config.exclude_train_labels = (0,)
        assert validation.check(config) == [], name


# Rules that library functions used to check again (losses, hierarchical, corruption,
# likelihoods, models, mesh, host input, evaluators): the pass is now their one place.
@pytest.mark.parametrize("overrides,message", [
    (dict(conv_impl="cuda"), "unknown conv_impl 'cuda'"),
    (dict(model="ae", objective="sparse_kl"), "set --config.code_activation=sigmoid"),
    (dict(objective="iwae", iwae_samples=0), "config.iwae_samples: must be >= 1, got 0"),
    (dict(input="disk"), "unknown input 'disk'"),
    (dict(host_chunk_steps=0), "config.host_chunk_steps: must be >= 1"),
    (dict(mesh_members=-1), "config.mesh_members: must be >= 0"),
    (dict(dci_importance_model="gbt"), "unknown dci_importance_model 'gbt'"),
    (dict(likelihood="discretized_logistic_mixture", binarization="none", num_mixtures=0),
     "config.num_mixtures: must be >= 1"),
    (dict(likelihood="discretized_logistic"), "the data must not be binarised"),
    (dict(architecture="conv", conv_kernels=(3,)), "needs one kernel size per conv_channels"),
    (dict(model="ae", final_evals=("nll",)), "evaluator 'nll' (config.evals / final_evals) "
                                             "needs one of vae"),
    (dict(evals=("elbo", "codebook")), "measures a codebook: it needs model=vq_vae"),
    (dict(evals=("elbo", "denoising")), "set --config.corruption (gaussian | salt_pepper |"),
])
def test_rules_once_checked_twice_are_the_pass_s_alone(overrides, message):
    with pytest.raises(ConfigError) as error:
        validation.check(_config(**overrides), log_warnings=False)
    assert message in str(error.value)


@pytest.mark.parametrize("overrides,field", [
    (dict(model="ae", beta=4.0), "beta"),
    (dict(model="vq_vae", objective="vq", kl_warmup_epochs=2.0), "kl_warmup_epochs"),
    (dict(objective="tcvae", capacity_max=25.0), "capacity_max"),
    (dict(model="ladder_vae", objective="iwae", iwae_samples=5, free_bits=0.5), "free_bits"),
    (dict(penalty_weight=0.1), "penalty_weight"),
    (dict(noise_level=0.3), "noise_level"),
    (dict(tc_alpha=2.0), "tc_alpha"),
    (dict(model="ae", objective="sparse_l1", sparsity_target=0.1), "sparsity_target"),
    (dict(factor_vae_gamma=40.0), "factor_vae_gamma"),
    (dict(objective="dip_vae_i", sweep=dict(seed=None, commitment_beta=(0.25, 1.0))),
     "commitment_beta"),
])
def test_member_fields_the_member_ignores_are_refused(overrides, field):
    """A member field the objective does not read is an error, not a warning: a member that
    silently equals another is a wrong table (tests/test_fields.py measures every pair)."""
    sweep = overrides.pop("sweep", {})
    config = _config(**overrides)
    for name, values in sweep.items():
        config.sweep[name] = values
    with pytest.raises(ConfigError, match=rf"^config\.{field}=\S+ would be ignored .*--config"):
        validation.check(config)


@pytest.mark.parametrize("overrides,field", [
    (dict(pixel_std=0.2), "pixel_std"),
    (dict(tc_estimator="mss"), "tc_estimator"),
    (dict(code_activation="sigmoid"), "code_activation"),
    (dict(dataset="sprites", data_source="tfds"), "data_source"),
])
def test_ignored_fields_warn_through_absl_logging(overrides, field, caplog):
    with caplog.at_level(logging.WARNING):
        warnings = validation.check(_config(**overrides))
    assert len(warnings) == 1 and f"config.{field}=" in warnings[0]
    assert [r.getMessage() for r in caplog.records if "is ignored" in r.getMessage()] == warnings


def test_config_file_mistakes_are_caught_too():
    """What the command line cannot express: a field a config file adds, a float sweep of an
    integer field written in Python."""
    config = _config(lattents=4)
    with pytest.raises(ConfigError, match="'lattents'; did you mean latents"):
        validation.check(config)
    config = _config()
    config.sweep.latents = (2, 2.5)  # int(2.5) would silently train latents=2
    with pytest.raises(ConfigError, match="config.sweep.latents: must be an integer"):
        validation.check(config)
    config = _config()
    config.sweep.hidden = ((64,), ())  # () = a linear encoder/decoder: allowed
    assert validation.check(config) == []


def test_each_choice_is_listed_once():
    """elbo and iwae belong to four models each: the error names every objective once."""
    with pytest.raises(ConfigError, match="unknown objective 'nope'") as error:
        validation.check(_config(objective="nope"))
    listed = str(error.value).split("choose one of ")[1].split(" (--config")[0].split(", ")
    assert len(listed) == len(set(listed)), listed
    assert {"default", "elbo", "iwae", "recon", "vq"} <= set(listed)
    for name, rule in validation.FIELD_RULES.items():
        assert len(rule.choices) == len(set(rule.choices)), name


def test_every_model_has_its_objectives():
    """The objective of each model is looked up without a check (losses.resolve): every name
    the validation pass accepts for config.model has an entry."""
    assert set(validation.FIELD_RULES["model"].choices) == set(losses.OBJECTIVES)


def test_unknown_field_message_names_the_nearest_fields():
    base = defaults.base_config()
    assert validation.unknown_field_message("latents", base) is None
    assert "did you mean sweep.beta" in validation.unknown_field_message("sweep.bta", base)
    assert "cannot be swept" in validation.unknown_field_message("sweep.batch_size", base)
    assert "not a group" in validation.unknown_field_message("beta.x", base)


# ------------------------------------------------------------------------- dataset=arrays
def _arrays(tmp_path, **arrays):
    rng = np.random.default_rng(0)
    arrays = dict(dict(train_images=rng.random((40, 8, 8), np.float32),
                       test_images=rng.random((10, 8, 8), np.float32)), **arrays)
    path = tmp_path / "mine.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return data.load(_config(dataset="arrays", data_path=str(path), binarization="none",
                             num_train=0, num_test=0))


@pytest.mark.parametrize("arrays,message", [
    (dict(train_labels=np.zeros(39, int), test_labels=np.zeros(10, int)),
     "train_labels has 39 entries but train_images has 40"),
    (dict(train_factors=np.zeros((40, 2), int), test_factors=np.zeros((9, 2), int)),
     "test_factors has 9 entries but test_images has 10"),
    (dict(train_labels=np.zeros(40, int)), "train_labels without its pair"),
    (dict(train_labels=np.full(40, 0.5), test_labels=np.zeros(10)), "train_labels has dtype"),
    (dict(test_images=np.full((10, 8, 8), np.nan, np.float32)), "test_images holds 640 NaN"),
    (dict(train_images=np.full((40, 8, 8), np.inf)), "train_images holds 2560 NaN or Inf"),
    (dict(train_images=np.full((40, 8, 8), 255.0)), "train_images must lie in [0, 1]"),
    (dict(labels=np.zeros(40, int)), "unknown array(s) ['labels']"),
])
def test_bad_arrays_name_the_array(tmp_path, arrays, message):
    with pytest.raises(DataError) as error:
        _arrays(tmp_path, **arrays)
    assert message in str(error.value)


def test_what_only_the_data_tells_is_judged_on_the_loaded_arrays(tmp_path):
    """An arrays dataset's labels are unknown by its name: the validation pass lets knn through,
    and the same rule (evaluators.missing_data) refuses it once the arrays hold none."""
    config = _config(dataset="arrays", data_path="mine.npz", binarization="none",
                     evals=("elbo", "knn"))
    validation.check(config, log_warnings=False)
    with pytest.raises(ConfigError, match="evaluator 'knn' .*needs labels; dataset 'arrays'"):
        evaluators.validate(config, _arrays(tmp_path))


def test_good_arrays_load_with_their_labels(tmp_path):
    dataset = _arrays(tmp_path, train_labels=np.arange(40) % 3, test_labels=np.arange(10) % 3)
    assert dataset.train_images.shape == (40, 8, 8, 1) and dataset.train_labels.shape == (40,)
