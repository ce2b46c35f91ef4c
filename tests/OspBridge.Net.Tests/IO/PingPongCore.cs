using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;
using OspBridge.Net.Core;

namespace OspBridge.Net.Tests.IO;

/// <summary>What the toy core reports.</summary>
internal abstract record PingEvent
{
    /// <summary>A "ping:n" arrived (and a pong was queued back to its source).</summary>
    public sealed record Pinged(int N, DatagramPath Path, TimeSpan Now) : PingEvent;

    /// <summary>A "pong:n" arrived.</summary>
    public sealed record Ponged(int N, DatagramPath Path) : PingEvent;

    /// <summary>The armed deadline fired at <paramref name="Now"/>.</summary>
    public sealed record DeadlineFired(TimeSpan Due, TimeSpan Now) : PingEvent;

    /// <summary>A datagram that is neither ping nor pong.</summary>
    public sealed record Garbage(int Length) : PingEvent;
}

/// <summary>
/// A toy sans-IO core for driver tests: answers "ping:n" with "pong:n" to the sender, sends pings on
/// request, reports one settable deadline, and can be told to throw to test fault handling.
/// </summary>
internal sealed class PingPongCore : IProtocolCore<PingEvent>
{
    private readonly Queue<(byte[] Data, DatagramPath Path)> _out = new();
    private readonly Queue<PingEvent> _events = new();

    public TimeSpan? Deadline { get; set; }

    /// <summary>Throw from <see cref="Receive"/> when a datagram equal to this arrives.</summary>
    public string? ThrowOn { get; set; }

    /// <summary>Times <see cref="Receive"/> was called.</summary>
    public int Received { get; private set; }

    public void SendPing(int n, IPEndPoint? to) => _out.Enqueue((Encoding.ASCII.GetBytes($"ping:{n}"), new DatagramPath(null, to)));

    /// <summary>Queues a datagram of <paramref name="size"/> bytes (first bytes "blob:n:").</summary>
    public void SendBlob(int n, int size, IPEndPoint? to)
    {
        var data = new byte[size];
        for (int i = 0; i < size; i++) data[i] = (byte)(n + i);
        Encoding.ASCII.GetBytes($"blob:{n}:").CopyTo(data, 0);
        _out.Enqueue((data, new DatagramPath(null, to)));
    }

    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        Received++;
        var s = Encoding.ASCII.GetString(datagram);
        if (ThrowOn is { } t && s == t) throw new InvalidOperationException("core bug (test)");
        if (s.StartsWith("ping:", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), out int n))
        {
            _events.Enqueue(new PingEvent.Pinged(n, path, now));
            _out.Enqueue((Encoding.ASCII.GetBytes($"pong:{n}"), new DatagramPath(path.Local, path.Remote, path.InterfaceIndex)));
        }
        else if (s.StartsWith("pong:", StringComparison.Ordinal) && int.TryParse(s.AsSpan(5), out n))
        {
            _events.Enqueue(new PingEvent.Ponged(n, path));
        }
        else
        {
            _events.Enqueue(new PingEvent.Garbage(datagram.Length));
        }
    }

    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        if (_out.TryDequeue(out var d))
        {
            d.Data.CopyTo(destination);
            transmit = new Transmit(d.Data.Length, d.Path);
            return true;
        }
        transmit = default;
        return false;
    }

    public TimeSpan? NextDeadline => Deadline;

    public void HandleDeadline(TimeSpan now)
    {
        if (Deadline is { } due && due <= now)
        {
            Deadline = null;
            _events.Enqueue(new PingEvent.DeadlineFired(due, now));
        }
    }

    public bool TryPollEvent([MaybeNullWhen(false)] out PingEvent ev) => _events.TryDequeue(out ev);
}
