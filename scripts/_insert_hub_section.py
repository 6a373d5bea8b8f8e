"""One-off: insert chapter 15's section on a published (Hugging Face layout) checkpoint before its Summary."""
import sys

import nbformat

PATH = "solutions/15_scaling.ipynb"
MARK = "<!-- section: published checkpoint -->"

CELLS = [
    ("markdown", MARK + r"""
## 4. A model someone else published: the Hugging Face layout (模型仓库)

Most models a practitioner fine-tunes were trained by someone else and published on a **model hub**
(模型仓库, seed §7.3) such as Hugging Face's. A GPT-2-architecture model is stored there as a folder:
`config.json` (the architecture), `model.safetensors` (the weights by name), and the tokenizer's
`vocab.json` + `merges.txt` (a byte-level BPE, like chapter 12's). `nnlib.hub.load_pretrained`
reads such a folder into an nnlib `GPT` and `BPETokenizer`; `save_pretrained` writes one back.
The traps it handles: GPT-2's `Conv1D` stores weights as (in, out), the way nnlib's `Dense` does
(torch's `Linear` is (out, in)); `c_attn` holds the query, key and value projections side by side;
the head is tied to the token embedding; the MLP uses the tanh form of GELU (`gelu_new`); LayerNorm's
epsilon is 1e-5; and the published vocabulary numbers tokens its own way, so the loader permutes
the embedding rows into nnlib's order (bytes 0-255, then the merges).

Nothing here downloads anything, so we publish a model ourselves, offline: a small `GPT2LMHeadModel`
with random weights built by `transformers`, and a tokenizer trained by the `tokenizers` package on
the course corpus, each saved by its own library.
"""),
    ("code", r"""
import tokenizers
import transformers
from nnlib.hub import load_pretrained, save_pretrained
from nnlib.lora import apply_lora, merge_lora, lora_parameters

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
hub_dir = tempfile.TemporaryDirectory()
published = Path(hub_dir.name) / "tiny-gpt2"
published.mkdir()
bpe = tokenizers.ByteLevelBPETokenizer()
bpe.train_from_iterator([load_corpus("train")[:60_000]], vocab_size=400, min_frequency=2,
                        special_tokens=["<|endoftext|>"], show_progress=False)
bpe.save_model(str(published))
torch.manual_seed(0)
eot = bpe.token_to_id("<|endoftext|>")
hf_config = transformers.GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=eot, eos_token_id=eot)
hf_model = transformers.GPT2LMHeadModel(hf_config).eval()       # random weights: published, not trained
hf_model.save_pretrained(str(published))
print(sorted(p.name for p in published.iterdir()))
"""),
    ("code", r"""
loaded = load_pretrained(published)
hub_gpt, hub_tok, hf_ids = loaded.model, loaded.tokenizer, loaded.hf_ids
text = "The interpreter reads a line of text and runs it."
ids_nnlib = hub_tok.encode(text)
ids_hf = bpe.encode(text).ids
assert hf_ids[ids_nnlib].tolist() == ids_hf                        # the same tokens, numbered two ways
with torch.no_grad():
    hf_logits = hf_model(torch.tensor([ids_hf])).logits[0].numpy()
assert np.allclose(hub_gpt(np.array(ids_nnlib)).data, hf_logits[:, hf_ids], atol=1e-4)
greedy = hub_gpt.generate(np.array(ids_nnlib[:5]), 15, temperature=0)
with torch.no_grad():
    hf_greedy = hf_model.generate(torch.tensor([ids_hf[:5]]), max_new_tokens=15, do_sample=False, pad_token_id=eot)
assert hf_ids[greedy].tolist() == hf_greedy[0].tolist()
print(f"{hub_gpt.num_parameters():,} parameters; tokens, logits (within 1e-4) and greedy generation equal transformers'")
"""),
    ("markdown", r"""
**The real GPT-2.** With network access, the same loader reads OpenAI's 124M-parameter GPT-2:
fetch the folder once, then load it.

```python
from huggingface_hub import snapshot_download          # pip install huggingface_hub
folder = snapshot_download("gpt2", allow_patterns=["config.json", "model.safetensors", "vocab.json", "merges.txt"])
gpt2 = load_pretrained(folder)                          # 124M parameters, 50,257 tokens
print(gpt2.model.generate_text("Python is", 20, temperature=0))
```

**Fine-tune it with LoRA and publish the result.** Chapter 13's adapters go on the attention's query
and value projections and on the MLP; after a few steps on the course corpus the adapters are
merged into the weights and the model is saved in the Hub layout again, where `transformers` reads
it. Our "published" model has random weights (its logits are nearly uniform, and its tied head is
tiny), so 60 low-rank steps move its loss only a little: the round trip is the point here, and the
same code adapts the real GPT-2.
"""),
    ("code", r"""
# NBVAL_IGNORE_OUTPUT
apply_lora(hub_gpt, rank=8, alpha=16.0, targets=("q", "v", "mlp_*"), seed=0)
hub_gpt.train()
opt = AdamW(lora_parameters(hub_gpt), lr=2e-2, weight_decay=0.0)
corpus_ids = np.asarray(hub_tok.encode(load_corpus("train")[:40_000]))
rng = np.random.default_rng(0)
lora_losses = []
for step in range(60):
    xb, yb = sample_batch(corpus_ids, 8, 32, rng)
    loss = hub_gpt.loss(xb, yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    lora_losses.append(loss.item())
hub_gpt.eval()
print(f"LoRA fine-tuning: loss {np.mean(lora_losses[:5]):.2f} (first 5 steps) -> {np.mean(lora_losses[-5:]):.2f} (last 5)")
assert np.mean(lora_losses[-5:]) < np.mean(lora_losses[:5])
"""),
    ("code", r"""
merge_lora(hub_gpt)
republished = save_pretrained(hub_gpt, Path(hub_dir.name) / "tiny-gpt2-lora", tokenizer=hub_tok)
back = transformers.GPT2LMHeadModel.from_pretrained(republished).eval()
back_tok = transformers.GPT2TokenizerFast.from_pretrained(republished)
assert back_tok.encode(text) == hub_tok.encode(text)
with torch.no_grad():
    back_logits = back(torch.tensor([back_tok.encode(text)])).logits[0].numpy()
assert np.allclose(back_logits, hub_gpt(np.array(hub_tok.encode(text))).data, atol=1e-4)
print(sorted(p.name for p in Path(republished).iterdir()))
print("transformers loads the fine-tuned model: same tokens, same logits (within 1e-4) as nnlib")
hub_dir.cleanup()
"""),
]


def main() -> int:
    nb = nbformat.read(PATH, as_version=4)
    if any(MARK in "".join(c.source) for c in nb.cells):
        print("already inserted")
        return 0
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Summary"))
    new = [nbformat.v4.new_markdown_cell(src.strip("\n")) if kind == "markdown" else
           nbformat.v4.new_code_cell(src.strip("\n")) for kind, src in CELLS]
    nb.cells[at:at] = new
    nbformat.write(nb, PATH)
    print(f"inserted {len(new)} cells before cell {at}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
