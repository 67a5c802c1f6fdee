"""The README's "Python API" example, run as written by tests/test_api.py."""
import nas

run = nas.search(space="nb201", strategy="evolution", budget=4, epochs=1,
                 strategy_options={"population": 2, "sample_size": 2}, runs_dir="runs", name="api-example")
df = run.trials_dataframe()                  # one row per trial, like Optuna's study.trials_dataframe()
print(df[["number", "id", "state", "value", "key", "metrics_params", "metrics_macs"]])
best = run.best(1)[0]                         # the journal record, plus score, key and architecture
print(best["id"], best["score"], best["key"])
print(run.architecture(best["id"]).to_yaml())
print(run.export(top=1))                      # runs/api-example/best/1-tXXXXX/ (arch.yaml, model.py, ...)
print(nas.load_run("runs/api-example").status()["n_ok"], "ok trials; report:", run.path / "report.html")
