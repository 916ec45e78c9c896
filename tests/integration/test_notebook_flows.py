"""Whole flows of the service's public notebooks, with `azureml` changed to `runyard`: train, sweep,
register, deploy (pytorch-birds); the Gloo/Nccl notebook's init-method variables; the later SDK's
ScriptRunConfig(command=...) with a launcher inside the command."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import warnings

import pytest

from runyard.core import Experiment, ScriptRunConfig, Workspace
from runyard.core.compute import AmlCompute, ComputeTarget
from runyard.core.compute_target import ComputeTargetException
from runyard.core.model import InferenceConfig, Model
from runyard.core.runconfig import PyTorchConfiguration
from runyard.core.webservice import AciWebservice, Webservice, WebserviceException
from runyard.train.dnn import Gloo, PyTorch
from runyard.widgets import RunDetails

pytestmark = pytest.mark.integration

TRAIN = """
    import argparse, os, numpy as np, torch
    from runyard.core.run import Run
    run = Run.get_context()
    p = argparse.ArgumentParser()
    p.add_argument('--data_dir'); p.add_argument('--num_epochs', type=int); p.add_argument('--output_dir')
    p.add_argument('--learning_rate', type=float, default=0.001)
    args = p.parse_args()
    print('data:', sorted(os.listdir(args.data_dir)), flush=True)
    best = 0.0
    for epoch in range(args.num_epochs):
        best = max(best, 0.5 + epoch * args.learning_rate)
        run.log('best_val_acc', np.float64(best))
    run.log('lr', np.float64(args.learning_rate))
    os.makedirs(args.output_dir, exist_ok=True)
    torch.save(torch.nn.Linear(2, 2).state_dict(), os.path.join(args.output_dir, 'model.pt'))
"""

SCORE = """
    import json, torch
    from runyard.core.model import Model
    def init():
        global layer
        layer = torch.nn.Linear(2, 2)
        layer.load_state_dict(torch.load(Model.get_model_path('birds')))
    def run(raw):
        x = torch.tensor(json.loads(raw)['data'], dtype=torch.float32)
        return {'shape': list(layer(x).shape)}
"""


def test_pytorch_birds_notebook_from_cluster_to_deployed_service(workspace, project, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(workspace.path.parent)
    ws = Workspace.from_config(path=str(workspace.path))
    print("Workspace name: " + ws.name, "Azure region: " + ws.location,
          "Subscription id: " + ws.subscription_id, "Resource group: " + ws.resource_group, sep="\n")
    try:
        target = ComputeTarget(workspace=ws, name="gpu-cluster")
    except ComputeTargetException:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6", max_nodes=4)
        target = ComputeTarget.create(ws, "gpu-cluster", config)
        target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)
    status = target.get_status().serialize()
    assert status["provisioningState"] == "Succeeded" and status["scaleSettings"]["maxNodeCount"] == 4

    data = tmp_path / "hymenoptera"
    data.mkdir()
    (data / "ant.jpg").write_bytes(b"x")
    ds = ws.get_default_datastore()
    ds.upload(src_dir=str(data), target_path="hymenoptera_data", overwrite=True, show_progress=True)
    src = project("pytorch_train.py", TRAIN)
    estimator = PyTorch(source_directory=str(src), compute_target=target, entry_script="pytorch_train.py",
                        script_params={"--data_dir": ds.path("hymenoptera_data"), "--num_epochs": 3,
                                       "--output_dir": "./outputs"},
                        pip_packages=["azureml-defaults"])  # the service's SDK: runyard stands in for it
    run = Experiment(ws, name="pytorch-birds").submit(estimator)
    RunDetails(run).show()
    assert run.get_portal_url().endswith(f"#/run/{run.id}")
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "Azure region: local" in out and "data: ['ant.jpg']" in out and run.get_portal_url() in out
    assert "not installed: azureml-defaults" in (run.folder.path / "system_logs" / "prepare.txt").read_text()
    metrics = run.get_metrics()
    assert metrics["best_val_acc"] == [0.5, 0.501, 0.502] and metrics["lr"] == 0.001

    model = run.register_model(model_name="birds", model_path="outputs/model.pt")
    score_src = project("score.py", SCORE, name="serving")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aci = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, tags={"data": "birds"},
                                                 description="Classify", auth_enabled=True)
    service = Model.deploy(workspace=ws, name="aci-birds", models=[model],
                           inference_config=InferenceConfig(entry_script="score.py", source_directory=str(score_src)),
                           deployment_config=aci)
    try:
        service.wait_for_deployment(show_output=True)
        assert service.state == "Healthy" and service.compute_type == "ACI" and service.tags == {"data": "birds"}
        body = json.dumps({"data": [[1.0, 2.0], [3.0, 4.0]]}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:  # auth_enabled: no key, no answer
            urllib.request.urlopen(urllib.request.Request(service.scoring_uri, data=body, method="POST"))
        assert refused.value.code == 401
        key, _ = service.get_keys()
        request = urllib.request.Request(service.scoring_uri, data=body, method="POST",
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
        assert json.loads(urllib.request.urlopen(request).read()) == {"shape": [2, 2]}
        assert service.run(input_data=body) == {"shape": [2, 2]}
        assert [s.name for s in Webservice.list(ws)] == ["aci-birds"]
        assert Webservice(ws, "aci-birds").scoring_uri == service.scoring_uri
    finally:
        service.delete()
    with pytest.raises(WebserviceException, match="name='aci-birds'"):
        Webservice(ws, "aci-birds")


GLOO_MNIST = """
    import argparse, torch, torch.distributed as dist
    from runyard.core.run import Run
    p = argparse.ArgumentParser()
    p.add_argument('--dist-url'); p.add_argument('--dist-backend'); p.add_argument('--rank', type=int)
    p.add_argument('--world-size', type=int)
    args = p.parse_args()
    assert args.dist_url.startswith('tcp://'), args.dist_url
    dist.init_process_group(backend=args.dist_backend, init_method=args.dist_url, world_size=args.world_size,
                            rank=args.rank)
    t = torch.tensor([args.rank + 1.0])
    dist.all_reduce(t)
    Run.get_context().log('sum', t.item())
    print('rank', args.rank, 'sum', t.item(), flush=True)
    dist.barrier()
    dist.destroy_process_group()
"""


@pytest.mark.parametrize("nodes,per_node", [(2, 1), (1, 2)])
def test_gloo_notebook_init_method_and_task_index(workspace, project, nodes, per_node):
    src = project("mnist.py", GLOO_MNIST)
    est = PyTorch(source_directory=str(src), entry_script="mnist.py", compute_target="local",
                  script_params={"--dist-backend": "gloo", "--dist-url": "$AZ_BATCHAI_PYTORCH_INIT_METHOD",
                                 "--rank": "$AZ_BATCHAI_TASK_INDEX", "--world-size": nodes * per_node},
                  node_count=nodes, process_count_per_node=per_node, distributed_training=Gloo())
    run = Experiment(workspace, "gloo").submit(est)
    run.wait_for_completion()
    assert run.get_metrics(rank=0)["sum"] == run.get_metrics(rank=1)["sum"] == 3.0


DDP_SCRIPT = """
    import os, sys, torch, torch.distributed as dist
    from runyard.core import Run
    dist.init_process_group('gloo')
    t = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(t)
    Run.get_context().log('sum', t.item())
    sys.stdout.write(f'rank {dist.get_rank()} args {sys.argv[1:]}\\n')  # one write: two ranks share the log
    dist.barrier()
    dist.destroy_process_group()
"""


@pytest.mark.parametrize("command", [
    ["python -m torch.distributed.run --nproc_per_node 2 --nnodes 1 --node_rank $NODE_RANK "
     "--master_addr $MASTER_ADDR --master_port $MASTER_PORT train.py --epochs 3 && echo all-done"],
    "torchrun --nproc_per_node 2 train.py --epochs 3 && echo all-done",
])
def test_script_run_config_command_with_a_launcher_inside(workspace, project, command, capsys):
    src = project("train.py", DDP_SCRIPT)
    config = ScriptRunConfig(source_directory=str(src), command=command, compute_target="local",
                             distributed_job_config=PyTorchConfiguration(communication_backend="Gloo"))
    run = Experiment(workspace, "cmd").submit(config)
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert "rank 0 args ['--epochs', '3']" in out and "rank 1 args ['--epochs', '3']" in out
    assert "all-done" in out
    # each process of the inner launcher logs as its own rank
    assert run.get_metrics(rank=0)["sum"] == run.get_metrics(rank=1)["sum"] == 3.0


def test_pytorch_configuration_default_nccl_on_a_cpu_machine_is_refused_before_anything_runs(workspace, project):
    from runyard.compute.local import gpu_count

    if gpu_count():
        pytest.skip("this machine has GPUs: NCCL is allowed")
    src = project("train.py", "print('never')\n")
    config = ScriptRunConfig(source_directory=str(src), script="train.py",
                             distributed_job_config=PyTorchConfiguration(process_count=2))
    with pytest.raises(ComputeTargetException, match="communication_backend='nccl'.*Gloo"):
        Experiment(workspace, "nccl").submit(config)
    assert workspace.store.count_runs() == 0
