"""Commands as they travel on the `orders` topic."""

import orjson

from workers import commands


def test_every_kind_of_command_travels_whole() -> None:
    sent: list[commands.Command] = [
        commands.Place(1, 2, 3, 4, 0, 1, 55, 10, 1, 1_800_000_000_000, None, 2),
        commands.Place(5, 2, 6, 4, 1, 0, 99, 3, 2, None, 297, 0),
        commands.Cancel(7, 2, 3, 4),
        commands.Amend(8, 2, 3, 4, 54, None),
        commands.CancelAll(9, 2, 4),
        commands.Halt(10, 2),
        commands.Resume(11, 2),
        commands.Close(12, 2),
        commands.Resolve(13, 2, "VOID"),
    ]
    for command in sent:
        assert commands.decode(commands.encode(command)) == command
    # the wire form: the tag, then the fields in their declared order
    assert orjson.loads(commands.encode(sent[3])) == ["amend", 8, 2, 3, 4, 54, None]
