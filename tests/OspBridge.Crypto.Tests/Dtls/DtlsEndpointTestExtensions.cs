using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>Test conveniences over the sans-IO surface of <see cref="DtlsEndpoint"/>.</summary>
internal static class DtlsEndpointTestExtensions
{
    /// <summary>Drains one transmit into a fresh array (tests keep and inspect datagrams).</summary>
    public static bool TryPollDatagram(this DtlsEndpoint ep, out ReadOnlyMemory<byte> datagram)
    {
        var buffer = new byte[CoreLimits.MaxDatagramSize];
        if (ep.TryPollTransmit(buffer, TimeSpan.Zero, out int length))
        {
            datagram = buffer.AsMemory(0, length).ToArray();
            return true;
        }
        datagram = default;
        return false;
    }

    /// <summary>
    /// Feeds a datagram that must make the endpoint fail: asserts the Failed state, that the last queued state event is
    /// Failed carrying the same error, and returns that error.
    /// </summary>
    public static CryptoException ReceiveExpectingFailure(this DtlsEndpoint ep, ReadOnlySpan<byte> datagram, TimeSpan now)
    {
        ep.Receive(datagram, now);
        Assert.Equal(DtlsState.Failed, ep.State);
        Assert.NotNull(ep.Error);
        DtlsEvent? failed = null;
        while (ep.TryPollEvent(out var ev))
            if (ev.Kind == DtlsEventKind.StateChanged) failed = ev;
        Assert.NotNull(failed);
        Assert.Equal(DtlsState.Failed, failed.Value.State);
        Assert.Same(ep.Error, failed.Value.Error);
        return ep.Error!;
    }
}
