using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>
/// <see cref="DtlsEndpoint"/> as the one core contract <see cref="IProtocolCore{TEvent}"/>, so the shared test pump
/// (<c>VirtualNetwork</c>) drives it. The endpoint speaks the contract's verbs without naming the Net type (Crypto
/// depends on nothing of ours); every datagram goes on the connected pair, so paths are <see cref="DatagramPath.None"/>.
/// </summary>
internal sealed class DtlsCore(DtlsEndpoint endpoint) : IProtocolCore<DtlsEvent>
{
    /// <summary>The wrapped endpoint.</summary>
    public DtlsEndpoint Endpoint { get; } = endpoint;

    public TimeSpan? NextDeadline => Endpoint.NextDeadline;

    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now) => Endpoint.Receive(datagram, now);

    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        transmit = default;
        if (!Endpoint.TryPollTransmit(destination, now, out int length)) return false;
        transmit = new Transmit(length, DatagramPath.None);
        return true;
    }

    public void HandleDeadline(TimeSpan now) => Endpoint.HandleDeadline(now);

    public bool TryPollEvent(out DtlsEvent ev) => Endpoint.TryPollEvent(out ev);
}
