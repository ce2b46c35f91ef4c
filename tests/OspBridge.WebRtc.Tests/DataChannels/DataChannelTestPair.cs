using OspBridge.Testing.Virtual;
using OspBridge.Net.Simulation;
using OspBridge.WebRtc.DataChannels;
using OspBridge.WebRtc.Sctp;
using OspBridge.WebRtc.Tests.Sctp;

namespace OspBridge.WebRtc.Tests.DataChannels;

/// <summary>Two data-channel endpoints (A = DTLS client, B = DTLS server) on a <see cref="OspBridge.Testing.Virtual.VirtualNetwork"/>, seeded.</summary>
internal sealed class DataChannelTestPair(VirtualLinkOptions? aToB = null, VirtualLinkOptions? bToA = null, int maxMessage = 262_144)
    : SctpVirtualPair<DataChannelTestPair, DataChannelEndpoint, DataChannelEvent>(
        new DataChannelEndpoint(new SctpOptions { IsDtlsClient = true, MaxMessageSize = maxMessage, RemoteMaxMessageSize = maxMessage, Random = new SeededRandomNumberGenerator(1) }),
        new DataChannelEndpoint(new SctpOptions { IsDtlsClient = false, MaxMessageSize = maxMessage, RemoteMaxMessageSize = maxMessage, Random = new SeededRandomNumberGenerator(2) }),
        aToB, bToA)
{
    public void Connect()
    {
        A.Connect(Now);
        B.Connect(Now);
        Assert.True(RunUntil(() => A.IsConnected && B.IsConnected));
    }
}
