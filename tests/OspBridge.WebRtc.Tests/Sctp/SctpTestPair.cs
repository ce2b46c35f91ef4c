using OspBridge.Testing.Virtual;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.Sctp;

namespace OspBridge.WebRtc.Tests.Sctp;

/// <summary>Two <see cref="SctpAssociation"/>s (A = DTLS client) on a <see cref="OspBridge.Testing.Virtual.VirtualNetwork"/>, seeded.</summary>
internal sealed class SctpTestPair(SctpOptions? a = null, SctpOptions? b = null, VirtualLinkOptions? aToB = null, VirtualLinkOptions? bToA = null)
    : SctpVirtualPair<SctpTestPair, SctpAssociation, SctpEvent>(
        new SctpAssociation(Seeded(a ?? new SctpOptions { IsDtlsClient = true }, 1)),
        new SctpAssociation(Seeded(b ?? new SctpOptions(), 2)),
        aToB, bToA)
{
    /// <summary>Tests that pass no <see cref="SctpOptions.Random"/> still get reproducible tags, TSNs and cookies.</summary>
    internal static SctpOptions Seeded(SctpOptions o, ulong seed) => o.Random is null ? o with { Random = new SeededRandomNumberGenerator(seed) } : o;

    public void ConnectBoth(TimeSpan? maxVirtual = null)
    {
        A.Connect(Now);
        B.Connect(Now);
        Assert.True(RunUntil(() => A.State == SctpState.Established && B.State == SctpState.Established, maxVirtual ?? TimeSpan.FromSeconds(30)),
            $"handshake did not complete: A={A.State} B={B.State}");
    }
}
