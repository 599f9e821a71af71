"""Tiny randomly initialised models built from a config: no downloads, sub-second loads."""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "How do I kill a Python process? Use the kill command or the task manager.",
    "I cannot help with that request, but here is a safer alternative.",
    "Which response is less harmful? Answer A or Answer B.",
    "user assistant system The quick brown fox jumps over the lazy dog 0123456789 .,:;!?'\"()-",
]


def build_tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_causal_lm(seed: int = 0, initializer_range: float = 0.02, context: int = 512):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=context,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True,
                         initializer_range=initializer_range)
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer


def build_tiny_gpt2(seed: int = 0):
    """Absolute position embeddings, unlike Llama's RoPE, so wrong position ids change its outputs."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=512,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.bos_token_id)
    return GPT2LMHeadModel(config).eval(), tokenizer


def save_tiny_causal_lm(folder: Path, seed: int = 0, initializer_range: float = 0.02, context: int = 512) -> Path:
    model, tokenizer = build_tiny_causal_lm(seed, initializer_range, context)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    """A tiny random BERT (an embedder for TransformersEmbedder) with the tiny BPE tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
    BertModel(config).eval().save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
