using System.Diagnostics.CodeAnalysis;
using OspBridge.Net.Core;
using OspBridge.Net.Dns;

namespace OspBridge.Net.Mdns;

/// <summary>An event of a <see cref="MdnsLinkCore"/>: exactly one of <see cref="Responder"/> and <see cref="Querier"/> is set.</summary>
/// <param name="InterfaceIndex">The link's interface.</param>
/// <param name="Responder">A responder event, or null.</param>
/// <param name="Querier">A querier event, or null.</param>
public sealed record MdnsLinkEvent(int InterfaceIndex, MdnsResponderEvent? Responder, MdnsQuerierEvent? Querier);

/// <summary>
/// One mDNS link as one sans-IO core: the <see cref="MdnsResponder"/> and <see cref="MdnsQuerier"/> of one
/// interface behind the <see cref="IProtocolCore{TEvent}"/> contract. Each received datagram is parsed once
/// and offered to both; transmits (responder first) and events of both are drained through this core.
/// Drivers: <see cref="MdnsService"/> (several links on one loop); tests: the virtual network, one link per node.
/// </summary>
public sealed class MdnsLinkCore : IProtocolCore<MdnsLinkEvent>
{
    /// <summary>Creates the link of interface <paramref name="interfaceIndex"/>.</summary>
    public MdnsLinkCore(int interfaceIndex, MdnsResponderOptions? responder = null, MdnsQuerierOptions? querier = null)
    {
        InterfaceIndex = interfaceIndex;
        Responder = new MdnsResponder(responder, interfaceIndex);
        Querier = new MdnsQuerier(interfaceIndex, querier);
    }

    /// <summary>The interface index.</summary>
    public int InterfaceIndex { get; }

    /// <summary>The responder (publish and withdraw records through it, on the driver's loop).</summary>
    public MdnsResponder Responder { get; }

    /// <summary>The querier (browse and resolve through it, on the driver's loop).</summary>
    public MdnsQuerier Querier { get; }

    /// <summary>Datagrams that did not parse as DNS messages.</summary>
    public long MalformedPackets { get; private set; }

    /// <inheritdoc/>
    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (path.Remote is not { } source) return;
        if (!DnsMessage.TryParse(datagram, out var message))
        {
            MalformedPackets++;
            return;
        }
        Responder.Receive(message!, source, now);
        Querier.Receive(message!, source, now);
    }

    /// <inheritdoc/>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit) =>
        Responder.TryPollTransmit(destination, now, out transmit) || Querier.TryPollTransmit(destination, now, out transmit);

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public void HandleDeadline(TimeSpan now)
    {
        if (Responder.NextDeadline <= now) Responder.HandleDeadline(now);
        if (Querier.NextDeadline <= now) Querier.HandleDeadline(now);
    }

    /// <inheritdoc/>
    public bool TryPollEvent([MaybeNullWhen(false)] out MdnsLinkEvent ev)
    {
        if (Responder.TryPollEvent(out var r)) { ev = new MdnsLinkEvent(InterfaceIndex, r, null); return true; }
        if (Querier.TryPollEvent(out var q)) { ev = new MdnsLinkEvent(InterfaceIndex, null, q); return true; }
        ev = null;
        return false;
    }
}
