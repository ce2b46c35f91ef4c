using System.Diagnostics;
using System.Net;
using System.Runtime.ExceptionServices;

namespace OspBridge.Testing.Netns;

/// <summary>
/// One "machine" of a <see cref="NetnsLan"/>: a network namespace with <c>lo</c> up and one interface
/// (<see cref="InterfaceName"/>) plugged into the LAN bridge, with <see cref="IPv4"/>/24 and <see cref="IPv6"/>/64
/// (DAD disabled so addresses are usable at once), a default route via the bridge's address (Chromium needs
/// one to gather ICE candidates), and explicit multicast routes (224.0.0.0/4, ff00::/8) on that interface.
/// </summary>
public sealed class NetnsHost
{
    internal NetnsHost(NetnsLan lan, int index, string name, IPAddress v4, IPAddress v6)
    {
        Lan = lan;
        Index = index;
        Namespace = name;
        IPv4 = v4;
        IPv6 = v6;
    }

    /// <summary>The LAN this host belongs to.</summary>
    public NetnsLan Lan { get; }

    /// <summary>0-based position in <see cref="NetnsLan.Hosts"/>.</summary>
    public int Index { get; }

    /// <summary>The namespace name (as in <c>ip netns list</c>), unique per process and LAN.</summary>
    public string Namespace { get; }

    /// <summary>The name of the LAN interface inside the namespace (always <c>eth0</c>).</summary>
    public string InterfaceName { get; } = "eth0";

    /// <summary>IPv4 address on <see cref="InterfaceName"/> (10.213.0.(index+1)/24).</summary>
    public IPAddress IPv4 { get; }

    /// <summary>IPv6 unique-local address on <see cref="InterfaceName"/> (fd00:213::(index+1)/64).</summary>
    public IPAddress IPv6 { get; }

    /// <summary>
    /// Runs <paramref name="fileName"/> inside the namespace (<c>ip netns exec</c>) to completion, capturing
    /// output; kills it after <paramref name="timeout"/> (result has <see cref="ProcessResult.TimedOut"/>).
    /// </summary>
    public Task<ProcessResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken ct = default)
        => NetnsProcess.RunToEndAsync(Psi(fileName, arguments, null), timeout, ct);

    /// <summary>
    /// Starts a long-running process inside the namespace. Dispose the result (SIGTERM, then SIGKILL).
    /// <paramref name="environment"/> entries are added to (or, with a null value, removed from) the inherited environment.
    /// </summary>
    public NetnsProcess Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null)
        => new(Psi(fileName, arguments, environment), $"[{Namespace}] {fileName} {string.Join(' ', arguments)}");

    /// <summary>
    /// Runs <paramref name="action"/> on a fresh dedicated thread that first joins this namespace with
    /// <c>setns(fd, CLONE_NEWNET)</c>. Every socket created during the call lives in this namespace for its
    /// whole life and may then be used from any thread (a socket's namespace is fixed when it is created).
    /// Interface enumeration (<c>NetworkInterface.GetAllNetworkInterfaces</c>, which uses netlink) done
    /// inside the call sees this namespace's interfaces. Only synchronous work is "inside": continuations
    /// after an <c>await</c> run on pool threads in the test's own namespace, so create all sockets before
    /// returning. The thread exits afterwards, so no pool thread is ever moved to another namespace.
    /// </summary>
    public Task<T> RunInNamespaceAsync<T>(Func<T> action)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                EnterNamespace();
                tcs.SetResult(action());
            }
            catch (Exception ex)
            {
                tcs.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "netns " + Namespace,
        };
        thread.Start();
        return tcs.Task;
    }

    /// <summary>Synchronous form of <see cref="RunInNamespaceAsync{T}"/> (blocks the caller until done).</summary>
    public T RunInNamespace<T>(Func<T> action)
    {
        var task = RunInNamespaceAsync(action);
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (AggregateException ae) when (ae.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(ae.InnerException).Throw();
            throw;
        }
    }

    /// <summary>A socket factory whose sockets live in this host's namespace (dispose it when done).</summary>
    public NetnsSocketFactory CreateSocketFactory(OspBridge.Net.IO.IDatagramSocketFactory? inner = null) => new(Namespace, inner);

    private void EnterNamespace()
    {
        string path = "/run/netns/" + Namespace;
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        int fd = (int)handle.DangerousGetHandle();
        if (LibC.setns(fd, LibC.CLONE_NEWNET) != 0)
            throw new InvalidOperationException($"setns({path}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    private ProcessStartInfo Psi(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment)
    {
        var psi = new ProcessStartInfo("ip");
        psi.ArgumentList.Add("netns");
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Namespace);
        psi.ArgumentList.Add(fileName);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment)
            {
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
            }
        return psi;
    }

    /// <inheritdoc />
    public override string ToString() => $"{Namespace} ({IPv4}, {IPv6})";
}
