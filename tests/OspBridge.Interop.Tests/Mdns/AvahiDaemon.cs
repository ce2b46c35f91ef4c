namespace OspBridge.Interop.Tests.Mdns;

/// <summary>
/// avahi-daemon inside one namespace of a test LAN, isolated from the machine and from parallel tests:
/// <list type="bullet">
/// <item>its own D-Bus "system" bus (a private <c>dbus-daemon</c> listening on a socket in a temp dir;
/// avahi and its clients find it through <c>DBUS_SYSTEM_BUS_ADDRESS</c>, see <see cref="ClientEnvironment"/>);</item>
/// <item>its own <c>/run/avahi-daemon</c> (pid file, socket): <c>unshare -m</c> + a tmpfs mounted there;</item>
/// <item>a per-test config (<c>-f</c>): only <c>eth0</c>, a chosen host name, no wide-area, no workstation service;</item>
/// <item><c>--no-drop-root --no-chroot --no-rlimits</c>.</item>
/// </list>
/// </summary>
internal sealed class AvahiDaemon : IAsyncDisposable
{
    private readonly string _dir;
    private readonly NetnsProcess _dbus;
    private readonly NetnsProcess _avahi;

    private AvahiDaemon(string dir, NetnsProcess dbus, NetnsProcess avahi, string hostName)
    {
        _dir = dir;
        _dbus = dbus;
        _avahi = avahi;
        HostName = hostName;
        ClientEnvironment = new Dictionary<string, string?> { ["DBUS_SYSTEM_BUS_ADDRESS"] = $"unix:path={Path.Combine(dir, "bus.sock")}" };
    }

    /// <summary>avahi's host name (without .local).</summary>
    public string HostName { get; }

    /// <summary>Environment for avahi-browse / avahi-publish so they talk to this daemon.</summary>
    public IReadOnlyDictionary<string, string?> ClientEnvironment { get; }

    public static string? WhyUnsupported()
    {
        foreach (var f in new[] { "/usr/sbin/avahi-daemon", "/usr/bin/avahi-browse", "/usr/bin/avahi-publish", "/usr/bin/dbus-daemon", "/usr/bin/unshare" })
            if (!File.Exists(f)) return $"avahi interop needs {f} (apt-get install avahi-daemon avahi-utils dbus util-linux)";
        return NetnsLan.WhyUnsupported();
    }

    public static async Task<AvahiDaemon> StartAsync(NetnsHost host, string hostName)
    {
        string? why = WhyUnsupported();
        if (why is not null) throw new InvalidOperationException(why);
        string dir = Directory.CreateTempSubdirectory("ospb-avahi-").FullName;
        string bus = Path.Combine(dir, "bus.sock");
        File.WriteAllText(Path.Combine(dir, "bus.conf"), $"""
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>system</type>
              <listen>unix:path={bus}</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow user="*"/>
                <allow own="*"/>
                <allow send_destination="*" eavesdrop="true"/>
                <allow receive_sender="*"/>
              </policy>
            </busconfig>
            """);
        File.WriteAllText(Path.Combine(dir, "avahi.conf"), $"""
            [server]
            host-name={hostName}
            use-ipv4=yes
            use-ipv6=yes
            allow-interfaces=eth0
            enable-dbus=yes
            ratelimit-interval-usec=1000000
            ratelimit-burst=1000
            [wide-area]
            enable-wide-area=no
            [publish]
            publish-hinfo=no
            publish-workstation=no
            [reflector]
            [rlimits]
            """);
        var dbus = host.Start("dbus-daemon", ["--nofork", "--print-address", $"--config-file={Path.Combine(dir, "bus.conf")}"]);
        try
        {
            await dbus.WaitForLineAsync(l => l.StartsWith("unix:", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        }
        catch
        {
            await dbus.DisposeAsync();
            throw;
        }
        string script = "mkdir -p /run/avahi-daemon && mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon --no-drop-root --no-chroot --no-rlimits --no-proc-title -f "
                        + Path.Combine(dir, "avahi.conf") + " 2>&1";
        var avahi = host.Start("unshare", ["-m", "--propagation", "private", "sh", "-c", script],
            new Dictionary<string, string?> { ["DBUS_SYSTEM_BUS_ADDRESS"] = $"unix:path={bus}" });
        var d = new AvahiDaemon(dir, dbus, avahi, hostName);
        try
        {
            await avahi.WaitForLineAsync(l => l.Contains("Server startup complete", StringComparison.Ordinal), TimeSpan.FromSeconds(20));
        }
        catch
        {
            await d.DisposeAsync();
            throw;
        }
        return d;
    }

    /// <summary>Runs an avahi client tool (avahi-browse, avahi-resolve ...) against this daemon.</summary>
    public Task<ProcessResult> RunClientAsync(NetnsHost host, string tool, TimeSpan timeout, params string[] args)
        => host.RunAsync("env", [$"DBUS_SYSTEM_BUS_ADDRESS={ClientEnvironment["DBUS_SYSTEM_BUS_ADDRESS"]}", tool, .. args], timeout);

    /// <summary>Starts a long-running avahi client (avahi-publish) against this daemon; its stderr is merged into stdout.</summary>
    public NetnsProcess StartClient(NetnsHost host, string tool, params string[] args)
        => host.Start("sh", ["-c", "exec \"$0\" \"$@\" 2>&1", tool, .. args], ClientEnvironment);

    public string Log => string.Join('\n', _avahi.StandardOutputLines);

    public async ValueTask DisposeAsync()
    {
        await _avahi.DisposeAsync();
        await _dbus.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
