"""A saved folder loads with trust_remote_code in a Python where this package cannot be imported."""

import json
import os
import subprocess
import sys
import textwrap

import torch

from modeling_attnrank import AttnRankTokenizer

from conftest import tiny_model


BLOCK_PACKAGE = textwrap.dedent(
    """
    import sys
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("modeling_attnrank", "attnrank"):
                raise ImportError(f"{name} is blocked: this process must not see the installed package")
    sys.meta_path.insert(0, _Block())
    """
)


def test_remote_code_load_in_clean_process(tmp_path):
    model = tiny_model()
    tokenizer = AttnRankTokenizer(items=[f"item{i}" for i in range(1, 31)], model_max_length=12)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_attnrank.AttnRankForNextItemPrediction"
    for name in ("modeling_attnrank.py", "configuration_attnrank.py", "loss_attnrank.py", "tokenization_attnrank.py"):
        assert (folder / name).exists()

    history = ["item3", "item7", "item2"]
    expected = model(**tokenizer([history], return_tensors="pt")).logits[0, -1]

    script = BLOCK_PACKAGE + textwrap.dedent(
        f"""
        import json, torch
        from transformers import AutoModel, AutoTokenizer
        try:
            import modeling_attnrank
            raise SystemExit("package visible")
        except ImportError:
            pass
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)
        tokenizer = AutoTokenizer.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert type(model).__name__ == "AttnRankForNextItemPrediction", type(model)
        assert type(tokenizer).__name__ == "AttnRankTokenizer", type(tokenizer)
        batch = tokenizer([{history!r}], return_tensors="pt")
        logits = model(**batch).logits[0, -1]
        top = model.recommend(**batch, k=3)
        print(json.dumps({{"logits": logits.tolist(), "top": tokenizer.decode_items(top.item_ids[0])}}))
        """
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    torch.testing.assert_close(torch.tensor(payload["logits"]), expected.detach(), rtol=1e-5, atol=1e-5)
    assert not set(payload["top"]) & set(history)
