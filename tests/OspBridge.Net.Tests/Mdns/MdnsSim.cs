using System.Net;
using OspBridge.Net.Core;
using OspBridge.Net.Dns;
using OspBridge.Net.Mdns;
using OspBridge.Testing.Virtual;

namespace OspBridge.Net.Tests.Mdns;

/// <summary>One simulated machine: one <see cref="MdnsLinkCore"/> (responder + querier) on one interface, a node of the <see cref="VirtualNetwork"/>.</summary>
internal sealed class SimNode
{
    public SimNode(int index, MdnsLinkCore core)
    {
        Index = index;
        Address = IPAddress.Parse($"10.0.0.{index + 1}");
        Core = core;
    }

    public int Index { get; }
    public IPAddress Address { get; }
    public IPEndPoint EndPoint => new(Address, 5353);
    public MdnsLinkCore Core { get; }
    public MdnsResponder Responder => Core.Responder;
    public MdnsQuerier Querier => Core.Querier;
    public VirtualNode Node { get; set; } = null!;

    /// <summary>False = the machine is gone (SIGKILL: no goodbyes, no answers).</summary>
    public bool Alive
    {
        get => !Node.IsDown;
        set => Node.IsDown = !value;
    }
    public List<(TimeSpan At, MdnsResponderEvent Ev)> ResponderEvents { get; } = [];
    public List<(TimeSpan At, MdnsQuerierEvent Ev)> QuerierEvents { get; } = [];

    /// <summary>Every datagram the node transmitted: when, the message, and the unicast destination (null = multicast).</summary>
    public List<(TimeSpan At, DnsMessage Msg, IPEndPoint? To)> Sent { get; } = [];
}

/// <summary>
/// mDNS nodes on the one test pump (<see cref="VirtualNetwork"/>): a thin layer that builds one
/// <see cref="MdnsLinkCore"/> per node (seeded <see cref="SeededRandomNumberGenerator"/>), turns on
/// multicast loopback (as IP_MULTICAST_LOOP does on a real socket) with 1 ms links, and records what each
/// node sent and reported.
/// </summary>
internal sealed class MdnsSim
{
    private readonly VirtualNetwork _net = new() { MulticastLoopback = true, DefaultLink = new() { Delay = TimeSpan.FromMilliseconds(1) } };

    public MdnsSim(int nodes, MdnsResponderOptions? ro = null, MdnsQuerierOptions? qo = null, int seed = 1)
    {
        for (int i = 0; i < nodes; i++)
        {
            ulong s = (ulong)(seed * 100 + i);
            var core = new MdnsLinkCore(1,
                (ro ?? new MdnsResponderOptions()) with { Random = new SeededRandomNumberGenerator(s) },
                (qo ?? new MdnsQuerierOptions()) with { Random = new SeededRandomNumberGenerator(s + 1000) });
            var n = new SimNode(i, core);
            n.Node = _net.Add<MdnsLinkEvent>($"n{i}", core, e =>
            {
                if (e.Responder is { } r) n.ResponderEvents.Add((_net.Now, r));
                if (e.Querier is { } q) n.QuerierEvents.Add((_net.Now, q));
            }, n.EndPoint);
            Nodes.Add(n);
        }
        _net.OnTransmit = (from, data, path) =>
        {
            var node = Nodes.First(n => n.Node == from);
            bool multicast = path.Remote is { } r && (r.Address.Equals(MdnsConstants.IPv4Group) || r.Address.Equals(MdnsConstants.IPv6Group));
            var msg = DnsMessage.Parse(data);
            node.Sent.Add((Now, msg, multicast ? null : path.Remote));
            if (!multicast && path.Remote is { } to && !Nodes.Any(x => x.Address.Equals(to.Address)))
                Extra.Add((Now, node.EndPoint, to, msg));
        };
    }

    public List<SimNode> Nodes { get; } = [];
    public VirtualNetwork Network => _net;
    public TimeSpan Now => _net.Now;

    /// <summary>Seeded random loss on every link (set before the first datagram flows).</summary>
    public double LossRate
    {
        get => _net.DefaultLink.LossRate;
        set => _net.DefaultLink = _net.DefaultLink with { LossRate = value, Seed = 5 };
    }

    /// <summary>Unicast datagrams to hosts that are not nodes (e.g. replies to a legacy resolver).</summary>
    public List<(TimeSpan At, IPEndPoint From, IPEndPoint To, DnsMessage Msg)> Extra { get; } = [];

    /// <summary>Injects a datagram from an arbitrary endpoint (e.g. a legacy resolver): to every node (multicast) or to <paramref name="to"/>, after 1 ms.</summary>
    public void Inject(IPEndPoint from, DnsMessage msg, IPEndPoint? to = null)
    {
        var data = msg.Encode();
        foreach (var n in Nodes)
        {
            if (to is not null && !to.Address.Equals(n.Address)) continue;
            _net.Inject(n.Node, data, new DatagramPath(to ?? MdnsConstants.IPv4EndPoint, from), TimeSpan.FromMilliseconds(1));
        }
    }

    public void RunFor(TimeSpan span) => _net.RunFor(span);

    public static DnsName Type => DnsName.Parse("_openscreen._udp.local");

    public int AddService(SimNode n, string instance, ushort port, string host, TxtProperties? txt = null)
    {
        var hostName = DnsName.Parse(host);
        n.Responder.AddHost(hostName, [n.Address], Now);
        return n.Responder.AddService(new MdnsServiceRegistration(instance, Type, hostName, port, txt ?? new TxtProperties().Set("fp", "x")), Now);
    }
}
