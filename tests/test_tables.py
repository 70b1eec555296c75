"""Report tables: mean ± sample std over seeds, against hand-computed values."""

import math

from vae_jax.report import tables


def _record(beta, seed, value):
    return {"hparams": {"beta": beta, "seed": seed}, "eval/recon": value}


def test_summarize_gives_the_sample_std_over_seeds():
    # beta 1: values 1, 2, 3, 4 -> mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5,
    # sample std sqrt(5 / 3) = 1.2910 (the population std, ddof 0, would be sqrt(5 / 4) = 1.118).
    records = [_record(1.0, s, v) for s, v in enumerate([1.0, 2.0, 3.0, 4.0])]
    records.append(_record(4.0, 0, 7.0))  # beta 4: one seed, no spread
    rows = tables.summarize(records, ["beta"], ["eval/recon"], {"model": "vae"})
    assert rows[0]["seeds"] == 4 and rows[0]["eval/recon"][0] == 2.5
    assert math.isclose(rows[0]["eval/recon"][1], math.sqrt(5 / 3), rel_tol=1e-12)
    mean, std = rows[1]["eval/recon"]
    assert mean == 7.0 and math.isnan(std)
    table = tables.markdown_table(rows, ["model", "beta", "eval/recon"], ["model", "beta", "recon"])
    assert "| vae | 1.0 | 2.5 ± 1.3 |" in table
    assert "| vae | 4.0 | 7 |" in table  # one seed: the mean alone, no "± nan"
    assert tables.spread_label(3) == "mean ± sample std (ddof = 1) over 3 seeds"
    assert tables.spread_label(1) == "one seed (no spread)"


def test_dci_headers_name_the_importance_model_of_the_records():
    columns, headers = ["beta", "eval/mig", "eval/dci_disentanglement"], ["beta", "MIG", "DCI dis."]
    records = [{"dci_importance_model": "random_forest"}, {"eval/mig": 0.1}]
    assert tables.name_dci_model(columns, headers, records) == [
        "beta", "MIG", "DCI dis. (random forest)"]
    assert tables.name_dci_model(columns, headers, [{}])[-1] == (
        "DCI dis. (importance model not recorded)")
