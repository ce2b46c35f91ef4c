using System.Net;
using Microsoft.Extensions.Logging;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Ice;

namespace OspBridge.WebRtc;

/// <summary>The WebRTC driver's log messages (cheap when the level is off).</summary>
internal static class WebRtcLog
{
    private static readonly Action<ILogger, IPAddress, string, Exception?> CannotBindMessage =
        LoggerMessage.Define<IPAddress, string>(LogLevel.Warning, new EventId(1, "CannotBind"), "webrtc: cannot bind a UDP socket on {Address}: {Error}");
    private static readonly Action<ILogger, string, Exception?> MalformedCandidateMessage =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(2, "MalformedCandidate"), "webrtc: ignoring malformed candidate {Candidate}");
    private static readonly Action<ILogger, string, Exception?> NoResolverMessage =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(3, "NoMdnsResolver"), "webrtc: no mDNS resolver for {Name}; relying on peer-reflexive discovery");
    private static readonly Action<ILogger, string, string, Exception?> ResolvedMessage =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(4, "MdnsResolved"), "webrtc: mDNS {Name} -> {Address}");
    private static readonly Action<ILogger, string, Exception?> EventMessage =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(5, "Event"), "webrtc: {What}");
    private static readonly Action<ILogger, string, Exception?> DtlsFailedMessage =
        LoggerMessage.Define<string>(LogLevel.Warning, new EventId(6, "DtlsFailed"), "webrtc: DTLS failed: {Reason}");
    private static readonly Action<ILogger, Exception?> LoopFailedMessage =
        LoggerMessage.Define(LogLevel.Error, new EventId(7, "LoopFailed"), "webrtc: internal error, peer connection failed");
    private static readonly Action<ILogger, Exception?> CloseTimeoutMessage =
        LoggerMessage.Define(LogLevel.Warning, new EventId(8, "CloseTimeout"), "webrtc: close: the loop did not answer in 5 s");
    private static readonly Action<ILogger, string, string, Exception?> MdnsMessage =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(9, "Mdns"), "mdns: {Name}: {What}");
    private static readonly Action<ILogger, string, string, Exception?> PublishFailedMessage =
        LoggerMessage.Define<string, string>(LogLevel.Warning, new EventId(10, "MdnsPublishFailed"), "mdns: publishing {Name} failed: {Error}");

    public static void CannotBind(ILogger l, IPAddress a, string error) => CannotBindMessage(l, a, error, null);
    public static void MalformedCandidate(ILogger l, string c) => MalformedCandidateMessage(l, c, null);
    public static void NoMdnsResolver(ILogger l, string name) => NoResolverMessage(l, name, null);
    public static void MdnsResolved(ILogger l, string name, IPAddress? ip)
    {
        if (l.IsEnabled(LogLevel.Debug)) ResolvedMessage(l, name, ip?.ToString() ?? "(no answer)", null);
    }

    /// <summary>A debug line built only when debug logging is on.</summary>
    public static void Event<T>(ILogger l, string what, T detail)
    {
        if (l.IsEnabled(LogLevel.Debug)) EventMessage(l, what + " " + detail, null);
    }

    public static void DtlsFailed(ILogger l, string? reason) => DtlsFailedMessage(l, reason ?? "", null);
    public static void DtlsState(ILogger l, DtlsState s) => Event(l, "DTLS", s);
    public static void LoopFailed(ILogger l, Exception ex) => LoopFailedMessage(l, ex);
    public static void CloseTimeout(ILogger l) => CloseTimeoutMessage(l, null);
    public static void Candidate(ILogger l, IceCandidate? c) => Event(l, "local candidate", c);

    public static void Mdns(ILogger l, string name, string what)
    {
        if (l.IsEnabled(LogLevel.Debug)) MdnsMessage(l, name, what, null);
    }

    public static void MdnsPublishFailed(ILogger l, string name, string error) => PublishFailedMessage(l, name, error, null);
}
