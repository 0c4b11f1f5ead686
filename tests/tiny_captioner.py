"""A BLIP captioning model small enough to build in a test: random weights, a 24-word vocabulary.

It is the real architecture (BlipForConditionalGeneration with its processor and a BERT tokenizer), saved
with ``save_pretrained`` as a downloaded model would be, so the loading, batching and decoding code runs
for real; only what it says is noise.
"""

from __future__ import annotations

from pathlib import Path

VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]",
    "a", "the", "of", "on", "and", "with", "photo", "picture", "screen",
    "red", "blue", "green", "bars", "pattern", "colour", "test", "card", "frame",
]  # fmt: skip
IMAGE_SIZE = 32


def build_tiny_blip(folder: Path) -> Path:
    """Write a tiny BLIP model, processor and tokenizer to ``folder`` and return it."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocabulary = folder / "vocab.txt"
    vocabulary.write_text("\n".join(VOCABULARY) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocabulary), bos_token="[DEC]")
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = BlipConfig(
        text_config={
            **small,
            "vocab_size": len(VOCABULARY),
            "max_position_embeddings": 64,
            "encoder_hidden_size": 32,
            "bos_token_id": tokenizer.bos_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**small, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config)
    processor = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    vocabulary.unlink()
    return folder
