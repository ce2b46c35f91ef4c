using System.Net;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;

namespace OspBridge.Net.Tests.Mdns;

/// <summary>One simulated machine: a responder and a querier on one interface.</summary>
internal sealed class SimNode
{
    public SimNode(int index, MdnsResponderOptions? ro, MdnsQuerierOptions? qo, int seed)
    {
        Index = index;
        Address = IPAddress.Parse($"10.0.0.{index + 1}");
        Responder = new MdnsResponder(ro, new Random(seed));
        Querier = new MdnsQuerier(1, qo, new Random(seed + 1000));
    }

    public int Index { get; }
    public IPAddress Address { get; }
    public IPEndPoint EndPoint => new(Address, 5353);
    public MdnsResponder Responder { get; }
    public MdnsQuerier Querier { get; }
    public bool Alive { get; set; } = true;
    public List<(TimeSpan At, MdnsResponderEvent Ev)> ResponderEvents { get; } = [];
    public List<(TimeSpan At, MdnsQuerierEvent Ev)> QuerierEvents { get; } = [];
    public List<(TimeSpan At, DnsMessage Msg, IPEndPoint? To)> Sent { get; } = [];

    public TimeSpan? NextDeadline
    {
        get
        {
            var a = Responder.NextDeadline;
            var b = Querier.NextDeadline;
            if (a is null) return b;
            if (b is null) return a;
            return a < b ? a : b;
        }
    }
}

/// <summary>
/// A virtual multicast link in virtual time: every multicast datagram reaches every live node (also the
/// sender, like IP_MULTICAST_LOOP) after 1 ms; unicast reaches the addressed node. Runs are bounded.
/// </summary>
internal sealed class MdnsSim
{
    private readonly PriorityQueue<(IPEndPoint From, IPEndPoint? To, byte[] Data), (TimeSpan, long)> _inFlight = new();
    private long _seq;

    public MdnsSim(int nodes, MdnsResponderOptions? ro = null, MdnsQuerierOptions? qo = null, int seed = 1)
    {
        for (int i = 0; i < nodes; i++) Nodes.Add(new SimNode(i, ro, qo, seed * 100 + i));
    }

    public List<SimNode> Nodes { get; } = [];
    public TimeSpan Now { get; private set; }
    public Func<IPEndPoint, IPEndPoint?, byte[], bool>? Drop { get; set; }
    public List<(TimeSpan At, IPEndPoint From, IPEndPoint To, DnsMessage Msg)> Extra { get; } = [];

    /// <summary>Injects a datagram from an arbitrary endpoint (e.g. a legacy resolver) to all nodes.</summary>
    public void Inject(IPEndPoint from, DnsMessage msg, IPEndPoint? to = null)
        => _inFlight.Enqueue((from, to, msg.Encode()), (Now + TimeSpan.FromMilliseconds(1), _seq++));

    public void RunFor(TimeSpan span) => RunUntil(Now + span);

    public void RunUntil(TimeSpan end)
    {
        for (int guard = 0; guard < 1_000_000; guard++)
        {
            Collect();
            var next = TimeSpan.MaxValue;
            if (_inFlight.TryPeek(out _, out var pri)) next = pri.Item1;
            foreach (var n in Nodes)
                if (n.Alive && n.NextDeadline is { } d && d < next) next = d;
            if (next > end)
            {
                Now = end;
                return;
            }
            if (next > Now) Now = next;
            while (_inFlight.TryPeek(out var item, out var p) && p.Item1 <= Now)
            {
                _inFlight.Dequeue();
                foreach (var n in Nodes)
                {
                    if (!n.Alive) continue;
                    if (item.To is not null && !item.To.Address.Equals(n.Address)) continue;
                    n.Responder.Receive(item.Data, item.From, Now);
                    n.Querier.Receive(item.Data, item.From, Now);
                }
            }
            foreach (var n in Nodes)
            {
                if (!n.Alive) continue;
                if (n.Responder.NextDeadline <= Now) n.Responder.HandleTimeout(Now);
                if (n.Querier.NextDeadline <= Now) n.Querier.HandleTimeout(Now);
            }
        }
        throw new InvalidOperationException("simulation did not settle");
    }

    private void Collect()
    {
        foreach (var n in Nodes)
        {
            if (!n.Alive) continue;
            while (n.Responder.TryDequeueTransmit(out var t)) Send(n, t);
            while (n.Querier.TryDequeueTransmit(out var t)) Send(n, t);
            while (n.Responder.TryDequeueEvent(out var e)) n.ResponderEvents.Add((Now, e!));
            while (n.Querier.TryDequeueEvent(out var e)) n.QuerierEvents.Add((Now, e!));
        }
    }

    private void Send(SimNode n, MdnsTransmit t)
    {
        n.Sent.Add((Now, DnsMessage.Parse(t.Payload), t.Unicast));
        if (t.Unicast is not null && !Nodes.Any(x => x.Address.Equals(t.Unicast.Address)))
        {
            Extra.Add((Now, n.EndPoint, t.Unicast, DnsMessage.Parse(t.Payload)));
            return;
        }
        if (Drop?.Invoke(n.EndPoint, t.Unicast, t.Payload) == true) return;
        _inFlight.Enqueue((n.EndPoint, t.Unicast, t.Payload), (Now + TimeSpan.FromMilliseconds(1), _seq++));
    }

    public static DnsName Type => DnsName.Parse("_openscreen._udp.local");

    public int AddService(SimNode n, string instance, ushort port, string host, TxtProperties? txt = null)
    {
        var hostName = DnsName.Parse(host);
        n.Responder.AddHost(hostName, [n.Address], Now);
        return n.Responder.AddService(new MdnsServiceRegistration(instance, Type, hostName, port, txt ?? new TxtProperties().Set("fp", "x")), Now);
    }
}
