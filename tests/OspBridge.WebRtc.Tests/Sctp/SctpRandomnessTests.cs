using OspBridge.Testing.Virtual;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>Every random value of the association comes from <see cref="SctpOptions.Random"/>.</summary>
public class SctpRandomnessTests
{
    private static readonly TimeSpan Now = TimeSpan.FromSeconds(1);

    /// <summary>INIT from the client, then the server's INIT ACK (with its HMAC-authenticated cookie) and the client's COOKIE ECHO.</summary>
    private static List<byte[]> Handshake(ulong seedA, ulong seedB)
    {
        var a = new SctpAssociation(new SctpOptions { IsDtlsClient = true, Random = new SeededRandomNumberGenerator(seedA) });
        var b = new SctpAssociation(new SctpOptions { Random = new SeededRandomNumberGenerator(seedB) });
        var buf = new byte[1500];
        var packets = new List<byte[]>();
        a.Connect(Now);
        Assert.True(a.TryPollTransmit(buf, Now, out var init));
        packets.Add(buf.AsSpan(0, init.Length).ToArray());
        b.Receive(buf.AsSpan(0, init.Length), default, Now);
        Assert.True(b.TryPollTransmit(buf, Now, out var initAck));
        packets.Add(buf.AsSpan(0, initAck.Length).ToArray());
        a.Receive(buf.AsSpan(0, initAck.Length), default, Now);
        Assert.True(a.TryPollTransmit(buf, Now, out var echo));
        packets.Add(buf.AsSpan(0, echo.Length).ToArray());
        b.Receive(buf.AsSpan(0, echo.Length), default, Now);
        Assert.Equal(SctpState.Established, b.State);
        return packets;
    }

    [Fact]
    public void SameSeeds_GiveByteIdenticalHandshakes()
    {
        var first = Handshake(1, 2);
        var second = Handshake(1, 2);
        Assert.Equal(first.Count, second.Count);
        for (int i = 0; i < first.Count; i++)
        {
            Assert.Equal(first[i], second[i]);
        }
    }

    [Fact]
    public void DifferentSeeds_ChangeTagsTsnsAndCookie()
    {
        var x = Handshake(1, 2);
        var y = Handshake(3, 4);
        // INIT chunk value: initiate tag (bytes 16..20 of the packet), initial TSN (28..32).
        Assert.NotEqual(x[0].AsSpan(16, 4).ToArray(), y[0].AsSpan(16, 4).ToArray());
        Assert.NotEqual(x[0].AsSpan(28, 4).ToArray(), y[0].AsSpan(28, 4).ToArray());
        // The COOKIE ECHO carries the server's cookie, whose HMAC is keyed by the seeded secret.
        Assert.NotEqual(x[2], y[2]);
    }

    [Fact]
    public void DefaultOptions_UseTheSystemGenerator()
    {
        var a = new SctpAssociation(new SctpOptions { IsDtlsClient = true });
        var b = new SctpAssociation(new SctpOptions { IsDtlsClient = true });
        var buf = new byte[1500];
        a.Connect(Now);
        b.Connect(Now);
        Assert.True(a.TryPollTransmit(buf, Now, out var ta));
        var initA = buf.AsSpan(0, ta.Length).ToArray();
        Assert.True(b.TryPollTransmit(buf, Now, out var tb));
        var initB = buf.AsSpan(0, tb.Length).ToArray();
        // Initiate tag and initial TSN together (64 random bits) differ between two unseeded associations.
        Assert.NotEqual(initA.AsSpan(16, 4).ToArray().Concat(initA.AsSpan(28, 4).ToArray()), initB.AsSpan(16, 4).ToArray().Concat(initB.AsSpan(28, 4).ToArray()));
    }
}
