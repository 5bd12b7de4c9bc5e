"""Writes expected.json: chat templates rendered by Jinja2 set up as transformers sets it up for chat templates
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=False),
raise_exception). Run from the repository root after scripts/test-setup.sh: python3 src/test/resources/chat-templates/generate_expected.py
"""
import json
import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = "src/test/resources/chat-templates"


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception


def source(name):
    if name == "shared":
        return open("../shared/models/moe-tiny-7d/chat_template.jinja").read()
    if name.startswith("cache:"):
        return json.load(open(".cache/tokenizers/" + name[6:] + "/tokenizer_config.json"))["chat_template"]
    return open(HERE + "/" + name).read()


def specials(name):
    if name.startswith("cache:"):
        cfg = json.load(open(".cache/tokenizers/" + name[6:] + "/tokenizer_config.json"))
    elif name == "shared":
        cfg = json.load(open("../shared/models/moe-tiny-7d/tokenizer_config.json"))
    else:
        return {"bos_token": "", "eos_token": "<|im_end|>"}
    out = {}
    for k in ["bos_token", "eos_token", "pad_token", "unk_token"]:
        v = cfg.get(k)
        out[k] = v["content"] if isinstance(v, dict) else (v or "")
    return out


SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello! What's 2+2?"}
A1 = {"role": "assistant", "content": "<think>\nSimple sum.\n</think>\n\n2+2 = 4."}
A1_PLAIN = {"role": "assistant", "content": "2+2 = 4."}
U2 = {"role": "user", "content": "And 3*3? Answer in 中文 please 😀"}
TOOL1 = {"role": "tool", "content": "{\"result\": 9}"}
TOOL2 = {"role": "tool", "content": "{\"unit\": \"none\"}"}

CASES = [
    ("shared", [U1], True, {}),
    ("shared", [SYS, U1, A1_PLAIN, U2], False, {}),
    ("qwen3-style.jinja", [SYS, U1, A1, U2], True, {}),
    ("qwen3-style.jinja", [SYS, U1, A1, U2, A1], False, {}),
    ("qwen3-style.jinja", [U1, TOOL1, TOOL2, A1_PLAIN], True, {"enable_thinking": False}),
    ("qwen3-style.jinja", [U1, {"role": "user", "content": "STOP now!"}, A1_PLAIN], False, {}),
    ("qwen3-style.jinja", [U1, A1_PLAIN], True, {"tools": [{"type": "function", "function": {"name": "add", "parameters": {"a": 1, "b": [1.5, None, True]}}}], "meta": True}),
    ("qwen3-style.jinja", [U1, SYS], True, {}),
    ("qwen3-style.jinja", [{"role": "robot", "content": "beep"}], True, {}),
    ("cache:qwen3", [U1], True, {}),
    ("cache:qwen3", [SYS, U1, A1, U2], True, {}),
    ("cache:qwen3", [SYS, U1, A1, U2, A1], False, {}),
    ("cache:qwen3", [U1, A1_PLAIN, {"role": "user", "content": "<tool_response>x</tool_response>"}, TOOL1, TOOL2], True, {}),
    ("cache:deepseek_v3", [SYS, U1, A1_PLAIN, U2], True, {}),
    ("cache:deepseek_v3", [U1], False, {}),
]

out = []
for name, messages, gen, extra in CASES:
    case = {"template": name, "messages": messages, "add_generation_prompt": gen, "extra": extra}
    try:
        case["expected"] = env.from_string(source(name)).render(messages=messages, add_generation_prompt=gen,
                                                                **specials(name), **extra)
    except TemplateError as e:
        case["error"] = str(e)
    out.append(case)
json.dump(out, open(HERE + "/expected.json", "w"), ensure_ascii=False, indent=1)
print(len(out), "cases")
