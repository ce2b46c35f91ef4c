using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;

namespace OspBridge.Testing.Virtual;

/// <summary>
/// The one test pump for sans-IO cores: any set of <see cref="IProtocolCore"/>s on a simulated network in
/// virtual time, with seeded loss, reordering, duplication, delay and MTU per directed pair of nodes
/// (<see cref="VirtualLink"/>). Single-threaded and deterministic: the same seeds give the same run.
/// </summary>
/// <remarks>
/// Routing of a core's <see cref="Transmit"/>: a remote multicast address goes to every other node; a
/// remote unicast address goes to the node that owns it (<see cref="VirtualNode.Addresses"/>); no remote
/// address (a connected layer such as DTLS or SCTP) goes to the node's single connected peer. Received
/// datagrams carry <c>Local</c> = the destination address and <c>Remote</c> = the sender's source address
/// (the transmit's <c>Local</c>, else the sender's first address).
/// </remarks>
public sealed class VirtualNetwork
{
    private readonly List<VirtualNode> _nodes = [];
    private readonly Dictionary<(VirtualNode From, VirtualNode To), VirtualLink> _links = [];
    private readonly Dictionary<VirtualNode, VirtualLink> _injections = [];
    private readonly byte[] _buffer = new byte[CoreLimits.MaxDatagramSize];
    private int _nextHost = 1;

    /// <summary>Creates an empty network at virtual time zero (or <paramref name="start"/>).</summary>
    public VirtualNetwork(TimeSpan start = default) => Now = start;

    /// <summary>Current virtual time.</summary>
    public TimeSpan Now { get; private set; }

    /// <summary>Impairments for node pairs that were not given their own with <see cref="Connect"/>.</summary>
    public VirtualLinkOptions DefaultLink { get; set; } = new() { Delay = TimeSpan.FromMilliseconds(1) };

    /// <summary>Called for every datagram put on a link (before impairments): sender, receiver, bytes.</summary>
    public Action<VirtualNode, VirtualNode, ReadOnlyMemory<byte>>? OnSend { get; set; }

    /// <summary>
    /// Called for every datagram a core transmits, before routing (so also for unroutable ones): sender,
    /// bytes (valid only during the call), the transmit's path.
    /// </summary>
    public Action<VirtualNode, ReadOnlySpan<byte>, DatagramPath>? OnTransmit { get; set; }

    /// <summary>
    /// Deliver a node's multicast back to itself too (like IP_MULTICAST_LOOP on a real socket), over the
    /// node's link to itself (<see cref="DefaultLink"/> unless <see cref="Connect"/>ed). Off by default.
    /// </summary>
    public bool MulticastLoopback { get; set; }

    /// <summary>
    /// Optional middlebox: rewrites each datagram put on a link (after <see cref="OnSend"/>, before the link's
    /// impairments) into zero or more datagrams — e.g. to re-fragment, reorder or mutate a flight. Null: unchanged.
    /// </summary>
    public Func<VirtualNode, VirtualNode, ReadOnlyMemory<byte>, IEnumerable<ReadOnlyMemory<byte>>>? Rewrite { get; set; }

    /// <summary>Steps taken so far (each delivers datagrams, fires deadlines or drains output once).</summary>
    public long Steps { get; private set; }

    /// <summary>The nodes in the order they were added.</summary>
    public IReadOnlyList<VirtualNode> Nodes => _nodes;

    /// <summary>Adds a core with no event handling beyond recording events in <see cref="VirtualNode.Events"/>.</summary>
    public VirtualNode Add(string name, IProtocolCore core, params IPEndPoint[] addresses) => AddNode(name, core, addresses, null);

    /// <summary>Adds a core whose events are drained after every step and handed to <paramref name="onEvent"/> (and recorded).</summary>
    public VirtualNode Add<TEvent>(string name, IProtocolCore<TEvent> core, Action<TEvent>? onEvent, params IPEndPoint[] addresses)
        => AddNode(name, core, addresses, () =>
        {
            var node = _nodes[^1];
            return () =>
            {
                for (int i = 0; i < 100_000 && core.TryPollEvent(out var e); i++)
                {
                    node.RecordEvent(e!);
                    onEvent?.Invoke(e);
                }
            };
        });

    private VirtualNode AddNode(string name, IProtocolCore core, IPEndPoint[] addresses, Func<Action>? drainFactory)
    {
        if (addresses.Length == 0)
            addresses = [new IPEndPoint(IPAddress.Parse($"10.0.{_nextHost / 250}.{_nextHost % 250 + 1}"), 5000)];
        _nextHost++;
        var node = new VirtualNode(this, name, core, addresses);
        _nodes.Add(node);
        if (drainFactory is not null) node.DrainEvents = drainFactory();
        return node;
    }

    /// <summary>Sets the impairments of both directions between two nodes (and makes them each other's connected peer).</summary>
    public void Connect(VirtualNode a, VirtualNode b, VirtualLinkOptions? aToB = null, VirtualLinkOptions? bToA = null)
    {
        _links[(a, b)] = new VirtualLink(aToB ?? DefaultLink);
        _links[(b, a)] = new VirtualLink(bToA ?? aToB ?? DefaultLink);
        a.Peer ??= b;
        b.Peer ??= a;
    }

    /// <summary>The directed link from one node to another (created with <see cref="DefaultLink"/> on first use).</summary>
    public VirtualLink Link(VirtualNode from, VirtualNode to)
    {
        if (!_links.TryGetValue((from, to), out var link))
            _links[(from, to)] = link = new VirtualLink(DefaultLink);
        return link;
    }

    /// <summary>Delivers a datagram to a node right now, outside any link (an attacker's injection).</summary>
    public void Inject(VirtualNode to, ReadOnlySpan<byte> datagram, DatagramPath path)
    {
        var copy = datagram.ToArray();
        to.Core.Receive(copy, path, Now);
        Drain();
    }

    /// <summary>
    /// Schedules a datagram from outside the network (a host that is not a node, e.g. a legacy resolver) to
    /// arrive at <paramref name="to"/> after <paramref name="delay"/>, with <paramref name="path"/> as its arrival path.
    /// </summary>
    public void Inject(VirtualNode to, ReadOnlySpan<byte> datagram, DatagramPath path, TimeSpan delay)
    {
        if (!_injections.TryGetValue(to, out var link))
            _injections[to] = link = new VirtualLink(new VirtualLinkOptions { Delay = TimeSpan.Zero });
        link.Send(datagram, Now + delay, path);
    }

    /// <summary>
    /// Runs until <paramref name="condition"/> holds (checked after every step), the network is idle, the
    /// virtual <paramref name="timeout"/> passes or <paramref name="maxSteps"/> steps were taken.
    /// Returns whether the condition held.
    /// </summary>
    public bool RunUntil(Func<bool> condition, TimeSpan timeout, int maxSteps = 2_000_000)
    {
        var end = Now + timeout;
        Drain();
        for (int i = 0; i < maxSteps; i++)
        {
            if (condition()) return true;
            if (!Step(end)) return condition();
        }
        return condition();
    }

    /// <summary>Runs for <paramref name="duration"/> of virtual time (or until idle / the step cap).</summary>
    public void RunFor(TimeSpan duration, int maxSteps = 2_000_000)
    {
        var end = Now + duration;
        Drain();
        for (int i = 0; i < maxSteps && Step(end); i++) { }
        if (Now < end) Now = end;
    }

    /// <summary>
    /// Advances to the next delivery or deadline not later than <paramref name="limit"/>, processes
    /// everything due then, and drains all output. Returns false when nothing is due by the limit.
    /// </summary>
    public bool Step(TimeSpan limit)
    {
        TimeSpan? next = null;
        foreach (var link in _links.Values)
            if (link.NextDeliveryTime is { } t && (next is null || t < next)) next = t;
        foreach (var link in _injections.Values)
            if (link.NextDeliveryTime is { } t && (next is null || t < next)) next = t;
        foreach (var n in _nodes)
            if (!n.IsDown && n.Core.NextDeadline is { } d && (next is null || d < next)) next = d;
        if (next is null || next > limit) return false;
        if (next > Now) Now = next.Value;
        Steps++;

        foreach (var ((from, to), link) in _links)
        {
            for (int i = 0; i < 100_000 && link.TryReceive(Now, out var data, out var tag); i++)
                if (!to.IsDown) to.Core.Receive(data, tag is DatagramPath p ? p : DatagramPath.None, Now);
        }
        foreach (var (to, link) in _injections)
        {
            for (int i = 0; i < 100_000 && link.TryReceive(Now, out var data, out var tag); i++)
                if (!to.IsDown) to.Core.Receive(data, tag is DatagramPath p ? p : DatagramPath.None, Now);
        }
        foreach (var n in _nodes)
            if (!n.IsDown && n.Core.NextDeadline is { } d && d <= Now) n.Core.HandleDeadline(Now);
        Drain();
        return true;
    }

    /// <summary>Drains every node's transmits onto the links and its events to its handler, until quiet.</summary>
    public void Drain()
    {
        for (int round = 0; round < 1000; round++)
        {
            bool any = false;
            foreach (var n in _nodes)
            {
                if (n.IsDown) continue;
                for (int i = 0; i < 100_000 && n.Core.TryPollTransmit(_buffer, Now, out var t); i++)
                {
                    any = true;
                    Route(n, _buffer.AsSpan(0, t.Length), t.Path);
                }
                n.DrainEvents?.Invoke();
            }
            if (!any) return;
        }
    }

    private void Route(VirtualNode from, ReadOnlySpan<byte> data, DatagramPath path)
    {
        OnTransmit?.Invoke(from, data, path);
        var source = path.Local ?? from.Addresses[0];
        if (path.Remote is null)
        {
            var to = from.Peer ?? _nodes.SingleOrDefault(n => n != from)
                ?? throw new InvalidOperationException($"{from.Name}: a transmit without a remote address needs exactly one peer");
            Send(from, to, data, new DatagramPath(to.Addresses[0], source));
            return;
        }
        var remote = path.Remote;
        if (IsMulticast(remote.Address))
        {
            foreach (var to in _nodes)
                if (to != from || MulticastLoopback) Send(from, to, data, new DatagramPath(remote, source, path.InterfaceIndex));
            return;
        }
        foreach (var to in _nodes)
        {
            if (to == from) continue;
            foreach (var a in to.Addresses)
                if (a.Address.Equals(remote.Address) && (a.Port == remote.Port || a.Port == 0))
                {
                    Send(from, to, data, new DatagramPath(remote, source));
                    return;
                }
        }
        from.Unroutable++;
    }

    private void Send(VirtualNode from, VirtualNode to, ReadOnlySpan<byte> data, DatagramPath arrival)
    {
        OnSend?.Invoke(from, to, data.ToArray());
        if (Rewrite is null)
        {
            Link(from, to).Send(data, Now, arrival);
            return;
        }
        foreach (var d in Rewrite(from, to, data.ToArray())) Link(from, to).Send(d.Span, Now, arrival);
    }

    private static bool IsMulticast(IPAddress a) =>
        a.IsIPv6Multicast || (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (a.GetAddressBytes()[0] & 0xF0) == 0xE0);
}

/// <summary>One core on a <see cref="VirtualNetwork"/>.</summary>
public sealed class VirtualNode
{
    private readonly List<object> _events = [];

    internal VirtualNode(VirtualNetwork network, string name, IProtocolCore core, IPEndPoint[] addresses)
    {
        Network = network;
        Name = name;
        Core = core;
        Addresses = addresses;
    }

    /// <summary>The network the node is on.</summary>
    public VirtualNetwork Network { get; }

    /// <summary>A name for messages.</summary>
    public string Name { get; }

    /// <summary>The core.</summary>
    public IProtocolCore Core { get; }

    /// <summary>The addresses the node owns; port 0 matches any port.</summary>
    public IReadOnlyList<IPEndPoint> Addresses { get; }

    /// <summary>Where transmits with no remote address go (set by <see cref="VirtualNetwork.Connect"/>).</summary>
    public VirtualNode? Peer { get; internal set; }

    /// <summary>
    /// A node that is down (a killed process, a host off the network): its core is no longer called — no
    /// deliveries (datagrams to it are lost), no deadlines, no transmits — until it is set back up.
    /// </summary>
    public bool IsDown { get; set; }

    /// <summary>Transmits whose remote address no node owns.</summary>
    public int Unroutable { get; internal set; }

    /// <summary>Every event drained from the core so far, in order.</summary>
    public IReadOnlyList<object> Events => _events;

    /// <summary>The events of one type, in order.</summary>
    public IEnumerable<T> EventsOf<T>() => _events.OfType<T>();

    internal Action? DrainEvents { get; set; }

    internal void RecordEvent(object e)
    {
        if (_events.Count < 1_000_000) _events.Add(e);
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
