"""The chatbot pattern: conversation state as a tensor, one AI.DAGEXECUTE per message.

After RedisAI's chatbot demo: the server holds the model, the pre- and post-processing
code and each conversation's state, so a message costs the client one round trip:

    AI.DAGEXECUTE LOAD 1 <state> PERSIST 1 <state>
      |> AI.SCRIPTEXECUTE example:chat:script tokenize ARGS 1 "<message>" OUTPUTS 1 ids
      |> AI.MODELEXECUTE example:chat:model INPUTS 2 ids <state> OUTPUTS 2 scores <state>
      |> AI.SCRIPTEXECUTE example:chat:script reply INPUTS 1 scores OUTPUTS 1 reply
      |> AI.TENSORGET reply BLOB

``tokenize`` (TorchScript, stored with AI.SCRIPTSTORE) turns the text into word ids,
the model (stored with AI.MODELSTORE TORCH) folds the message into the conversation
state with a GRU and scores topics against the message and against the state, ``reply``
picks the answer and returns it as UINT8 text. A new conversation (LOAD fails: no such
key) starts from a zero state, an AI.TENSORSET op instead of LOAD; an idle one expires
after 30 minutes.

The model is tiny and not trained: its GRU's weights are set by hand to keep a decaying
sum of the messages, so "tell me more" is answered from the conversation's context.

Run it against a running tensorserve:

    python examples/chatbot.py --port 6379 [--host HOST] [--password PW]
"""

from __future__ import annotations

import argparse
import io
import sys

import redis
import torch
from torch import nn

MODEL, SCRIPT, DIM = "example:chat:model", "example:chat:script", 128
TOPICS = {  # topic: (keywords, answer, answer to "tell me more")
    "hello": ("hello hi hey", "Hello! Ask me about redis, tensors or models.",
              "I know a little about redis, tensors and models."),
    "redis": ("redis database keys key", "Redis keeps data structures in memory.",
              "It has strings, hashes, lists, sets and sorted sets, with expiry."),
    "tensors": ("tensor tensors numpy array", "A tensor is an n-dimensional array.",
                "AI.TENSORSET stores one, AI.TENSORGET reads it back."),
    "models": ("model models torch onnx", "Models are stored with AI.MODELSTORE.",
               "AI.MODELEXECUTE runs one on tensors already on the server."),
    "bye": ("bye goodbye thanks", "Goodbye!", "Still here? Goodbye!"),
}
FALLBACK = "Sorry, I did not get that. Ask me about redis, tensors or models."
VOCAB = {w: i + 1 for i, w in enumerate(w for k, _, _ in TOPICS.values() for w in k.split())}

SCRIPT_SOURCE = f"""
def vocab() -> Dict[str, int]:
    return {VOCAB!r}

def tokenize(tensors: List[Tensor], keys: List[str], args: List[str]):
    text = args[0].lower()
    for mark in [".", ",", "?", "!"]:
        text = text.replace(mark, " ")
    table = vocab()
    ids: List[int] = [0]  # 0: padding and unknown words, its embedding is zero
    for word in text.split():
        ids.append(table.get(word, 0))
    return torch.tensor(ids, dtype=torch.int64)

def reply(tensors: List[Tensor], keys: List[str], args: List[str]):
    answers: List[str] = {[a for _, a, _ in TOPICS.values()]!r}
    follow_ups: List[str] = {[f for _, _, f in TOPICS.values()]!r}
    message, context = tensors[0][0], tensors[0][1]
    text = {FALLBACK!r}
    if float(message.max()) > 0.2:
        text = answers[int(message.argmax())]
    elif float(context.max()) > 0.05:
        text = follow_ups[int(context.argmax())]
    return torch.tensor([ord(c) for c in text], dtype=torch.uint8)
"""


class ChatModel(nn.Module):
    """(ids INT64 [n], state FLOAT [1, 1, DIM]) -> (scores [2, topics], new state)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB) + 1, DIM, padding_idx=0)
        self.gru = nn.GRU(DIM, DIM)
        with torch.no_grad():  # hand-set: new = 0.5 * tanh(0.3 * message) + 0.5 * old
            for weights in (self.gru.weight_ih_l0, self.gru.weight_hh_l0,
                            self.gru.bias_ih_l0, self.gru.bias_hh_l0):
                weights.zero_()
            self.gru.weight_ih_l0[2 * DIM:] = 0.3 * torch.eye(DIM)  # candidate: the message
            topics = [torch.tensor([VOCAB[w] for w in k.split()]) for k, _, _ in TOPICS.values()]
        self.register_buffer("topics", nn.functional.normalize(
            torch.stack([self.embed.weight[ids].sum(0) for ids in topics]).detach(), dim=1))

    def forward(self, ids: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        message = self.embed(ids).sum(0)
        _, state = self.gru(message.view(1, 1, -1), state)
        unit = nn.functional.normalize(torch.stack([message, state.view(-1)]), dim=1)
        return unit @ self.topics.t(), state


def say(r: redis.Redis, user: str, text: str) -> str:
    state = f"example:chat:state:{user}"
    try:
        return turn(r, state, text, ["LOAD", 1, state], [])
    except redis.ResponseError as e:
        if "tensor key is empty" not in str(e):
            raise
    # A new (or expired) conversation: start from a zero state, made inside the DAG.
    return turn(r, state, text, [], ["|>", "AI.TENSORSET", state, "FLOAT", 1, 1, DIM])


def turn(r: redis.Redis, state: str, text: str, load: list, init: list) -> str:
    with r.pipeline(transaction=False) as pipe:  # one round trip: the DAG, then EXPIRE
        pipe.execute_command(
            "AI.DAGEXECUTE", *load, "PERSIST", 1, state, *init,
            "|>", "AI.SCRIPTEXECUTE", SCRIPT, "tokenize", "ARGS", 1, text, "OUTPUTS", 1, "ids",
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 2, "ids", state,
            "OUTPUTS", 2, "scores", state,
            "|>", "AI.SCRIPTEXECUTE", SCRIPT, "reply", "INPUTS", 1, "scores",
            "OUTPUTS", 1, "reply",
            "|>", "AI.TENSORGET", "reply", "BLOB")
        pipe.expire(state, 1800)  # forget conversations idle for 30 minutes
        dag_reply, _ = pipe.execute()
    return bytes(dag_reply[-1]).decode()


def main() -> int:
    parser = argparse.ArgumentParser(description="A chatbot with state kept on the server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--password", default=None)
    args = parser.parse_args()
    # redis-py's default socket timeout is 5 s; the server's first model store may spend
    # longer importing torch.
    r = redis.Redis(host=args.host, port=args.port, password=args.password,
                    socket_timeout=60)

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(ChatModel().eval()), buf)
    r.execute_command("AI.MODELSTORE", MODEL, "TORCH", "CPU", "BLOB", buf.getvalue())
    r.execute_command("AI.SCRIPTSTORE", SCRIPT, "CPU", "ENTRY_POINTS", 2, "tokenize", "reply",
                      "SOURCE", SCRIPT_SOURCE)
    r.delete("example:chat:state:alice", "example:chat:state:bob")

    answer = {t: a for t, (_, a, _) in TOPICS.items()}
    more = {t: f for t, (_, _, f) in TOPICS.items()}
    conversation = [  # (user, message, expected reply): two conversations, interleaved
        ("alice", "Hi there!", answer["hello"]),
        ("alice", "What is Redis?", answer["redis"]),
        ("bob", "Tell me more.", FALLBACK),  # bob has no context yet
        ("alice", "Tell me more.", more["redis"]),
        ("bob", "How do I serve a torch model?", answer["models"]),
        ("alice", "And tensors?", answer["tensors"]),
        ("bob", "Go on", more["models"]),  # bob's state says models, alice's tensors
        ("alice", "go on, please", more["tensors"]),
        ("alice", "Thanks, bye", answer["bye"]),
    ]
    wrong = 0
    for user, text, expected in conversation:
        got = say(r, user, text)
        wrong += got != expected
        print(f"{user:>5}> {text}\n  bot> {got}{'' if got == expected else '   <- WRONG'}")
    state = r.execute_command("AI.TENSORGET", "example:chat:state:alice", "META")
    print(f"alice's state on the server: {state}, TTL {r.ttl('example:chat:state:alice')} s")
    r.delete(MODEL, SCRIPT, "example:chat:state:alice", "example:chat:state:bob")
    if wrong:
        print(f"FAILED: {wrong} unexpected replies")
        return 1
    print(f"OK: {len(conversation)} messages, one AI.DAGEXECUTE each, context kept per user")
    return 0


if __name__ == "__main__":
    sys.exit(main())
