namespace OspBridge.Net.Simulation;

/// <summary>Impairments of one direction of a <see cref="VirtualLink"/>. All randomness comes from <see cref="Seed"/>.</summary>
public sealed record VirtualLinkOptions
{
    /// <summary>Probability that a datagram is dropped (0..1).</summary>
    public double LossRate { get; init; }

    /// <summary>Probability that a datagram is delivered twice (0..1).</summary>
    public double DuplicateRate { get; init; }

    /// <summary>Probability that a datagram gets an extra delay of up to <see cref="ReorderDelay"/>, so later ones overtake it.</summary>
    public double ReorderRate { get; init; }

    /// <summary>One-way base delay.</summary>
    public TimeSpan Delay { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>The largest extra delay of a reordered datagram.</summary>
    public TimeSpan ReorderDelay { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Datagrams larger than this are dropped (path MTU); 0 = no limit.</summary>
    public int Mtu { get; init; }

    /// <summary>Most datagrams in flight; further ones are dropped (a bounded queue, like a router's).</summary>
    public int QueueLimit { get; init; } = 100_000;

    /// <summary>Seed of the link's random generator: same seed, same fate for the same sequence of datagrams.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Optional filter: return false to drop a specific datagram (e.g. "drop the first Initial").</summary>
    public Func<ReadOnlyMemory<byte>, bool>? Filter { get; init; }
}

/// <summary>
/// One direction of a simulated network path in virtual time, for driving sans-IO protocol cores in tests:
/// datagrams go in with <see cref="Send(ReadOnlySpan{byte}, TimeSpan)"/> at a virtual <c>now</c> and come out of <see cref="TryReceive(TimeSpan, out byte[])"/>
/// once their delivery time has passed, with seeded loss, duplication, reordering and an MTU.
/// </summary>
public sealed class VirtualLink
{
    private readonly VirtualLinkOptions _options;
    private readonly Random _random;
    private readonly PriorityQueue<(byte[] Data, object? Tag), (TimeSpan Due, long Seq)> _queue = new();
    private long _seq;

    /// <summary>Creates a link with the given impairments.</summary>
    public VirtualLink(VirtualLinkOptions? options = null)
    {
        _options = options ?? new VirtualLinkOptions();
        _random = new Random(_options.Seed);
    }

    /// <summary>Datagrams dropped by loss, MTU, queue limit or filter.</summary>
    public int Dropped { get; private set; }

    /// <summary>Extra copies delivered.</summary>
    public int Duplicated { get; private set; }

    /// <summary>Datagrams given extra delay.</summary>
    public int Reordered { get; private set; }

    /// <summary>Datagrams accepted by <see cref="Send(ReadOnlySpan{byte}, TimeSpan)"/> (before impairments).</summary>
    public int Sent { get; private set; }

    /// <summary>Datagrams currently in flight.</summary>
    public int InFlight => _queue.Count;

    /// <summary>Delivery time of the earliest datagram in flight, or null when none is.</summary>
    public TimeSpan? NextDeliveryTime => _queue.TryPeek(out _, out var p) ? p.Due : null;

    /// <summary>Puts a datagram on the link at virtual time <paramref name="now"/> (the bytes are copied).</summary>
    public void Send(ReadOnlySpan<byte> datagram, TimeSpan now) => Send(datagram, now, null);

    /// <summary>
    /// Puts a datagram on the link with a caller-defined <paramref name="tag"/> (e.g. its addressing) that
    /// comes out with it from <see cref="TryReceive(TimeSpan, out byte[], out object?)"/>.
    /// </summary>
    public void Send(ReadOnlySpan<byte> datagram, TimeSpan now, object? tag)
    {
        Sent++;
        var copy = datagram.ToArray();
        if ((_options.Mtu > 0 && datagram.Length > _options.Mtu)
            || _queue.Count >= _options.QueueLimit
            || (_options.Filter is { } f && !f(copy))
            || _random.NextDouble() < _options.LossRate)
        {
            Dropped++;
            return;
        }
        Enqueue(copy, tag, now);
        if (_random.NextDouble() < _options.DuplicateRate && _queue.Count < _options.QueueLimit)
        {
            Duplicated++;
            Enqueue(copy, tag, now);
        }
    }

    private void Enqueue(byte[] datagram, object? tag, TimeSpan now)
    {
        var due = now + _options.Delay;
        if (_random.NextDouble() < _options.ReorderRate)
        {
            Reordered++;
            due += TimeSpan.FromTicks((long)(_random.NextDouble() * _options.ReorderDelay.Ticks));
        }
        _queue.Enqueue((datagram, tag), (due, _seq++));
    }

    /// <summary>Takes the earliest datagram whose delivery time is at or before <paramref name="now"/>.</summary>
    public bool TryReceive(TimeSpan now, out byte[] datagram) => TryReceive(now, out datagram, out _);

    /// <summary>Like <see cref="TryReceive(TimeSpan, out byte[])"/>, also returning the tag given to <see cref="Send(ReadOnlySpan{byte}, TimeSpan, object?)"/>.</summary>
    public bool TryReceive(TimeSpan now, out byte[] datagram, out object? tag)
    {
        if (_queue.TryPeek(out var d, out var p) && p.Due <= now)
        {
            _queue.Dequeue();
            datagram = d.Data;
            tag = d.Tag;
            return true;
        }
        datagram = [];
        tag = null;
        return false;
    }
}
