"""The public surface: explicit, sorted, importable, and reachable under the service's module paths."""

import importlib
import subprocess
import sys

import runyard


def test_all_is_sorted_and_every_name_imports():
    assert runyard.__all__ == sorted(runyard.__all__)
    for name in runyard.__all__:
        assert getattr(runyard, name) is not None


def test_service_module_paths():
    paths = {
        "runyard.core": ["Workspace", "Experiment", "Run", "ScriptRunConfig", "Environment", "ComputeTarget",
                         "Datastore", "RunConfiguration", "Dataset"],
        "runyard.core.run": ["Run"],
        "runyard.core.compute": ["ComputeTarget", "AmlCompute"],
        "runyard.core.compute_target": ["ComputeTargetException"],
        "runyard.core.runconfig": ["MpiConfiguration", "PyTorchConfiguration", "RunConfiguration"],
        "runyard.core.conda_dependencies": ["CondaDependencies"],
        "runyard.train.dnn": ["PyTorch", "Mpi", "Gloo", "Nccl"],
        "runyard.train.estimator": ["Estimator"],
        "runyard.data.data_reference": ["DataReference"],
        "runyard.exceptions": ["ActivityFailedException", "UserErrorException", "ComputeTargetException"],
        "runyard.core.model": ["Model", "InferenceConfig"],
        "runyard.core.webservice": ["LocalWebservice", "AciWebservice", "AksWebservice", "Webservice"],
        "runyard.core.dataset": ["Dataset"],
        "runyard.data": ["FileDataset", "TabularDataset", "DatasetConsumptionConfig", "DataReference"],
        "runyard.widgets": ["RunDetails"],
        "runyard.train.hyperdrive": ["HyperDriveConfig", "RandomParameterSampling", "GridParameterSampling",
                                     "BayesianParameterSampling", "BanditPolicy", "MedianStoppingPolicy",
                                     "TruncationSelectionPolicy", "PrimaryMetricGoal", "choice", "uniform"],
        "runyard.train.hyperdrive.parameter_expressions": ["choice", "uniform", "loguniform", "normal"],
    }
    for module, names in paths.items():
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name), f"{module}.{name}"


def test_importing_run_in_a_script_stays_light():
    code = "import sys; from runyard import Run; Run.get_context(); print(' '.join(sorted(sys.modules)))"
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    for heavy in ("torch", "numpy", "rich", "sqlite3", "yaml", "pathspec"):
        assert heavy not in modules, f"`from runyard import Run` imported {heavy}"


def test_compute_and_environments_never_import_the_facade_workspace_even_for_typing():
    """The supervisor hands compute targets a WorkspaceFolder: they are annotated with the ConfiguredWorkspace
    protocol both satisfy, not with the facade they would have to import."""
    import ast
    from pathlib import Path

    import runyard

    package = Path(runyard.__file__).parent
    offenders = []
    for module in [*(package / "compute").glob("*.py"), *(package / "environments").glob("*.py")]:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "runyard.workspace":
                offenders.append(f"{module.relative_to(package)}:{node.lineno}")
    assert not offenders, offenders
